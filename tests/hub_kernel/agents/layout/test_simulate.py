"""Simulated users: hidden tastes show in their events, tastes drift, runs are reproducible."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hub_kernel.agents.layout.design import tile_feature
from hub_kernel.agents.layout.env import sample_profile
from hub_kernel.agents.layout.simulate import (
    FEATURES,
    Population,
    SimulatedUser,
    candidate_tiles,
    feedback_counts,
)
from hub_kernel.exceptions import AgentError
from hub_kernel.layout import Layout


@pytest.fixture(scope="module")
def tiles():
    return candidate_tiles(sample_profile())


def by_feature(tiles, feature):
    return next(t for t in tiles if tile_feature(t) == feature)


def test_candidates_cover_every_tile_feature(tiles):
    assert {tile_feature(t) for t in tiles} == set(FEATURES)
    assert len({t.id for t in tiles}) == len(tiles)


def test_a_hidden_preference_shows_in_more_positive_events(tiles):
    user = SimulatedUser(deviation={"chart:scatter": 3.0, "chart:bar": -3.0})
    rng = np.random.default_rng(0)
    events = []
    for _ in range(300):  # random orders, so position bias hits both tiles alike
        events += user.session([tiles[i] for i in rng.permutation(len(tiles))], rng)
    counts = feedback_counts(events)
    liked, disliked = counts["chart:scatter"], counts["chart:bar"]
    assert liked[0] > 3 * disliked[0]
    assert disliked[1] > 3 * liked[1]
    ups = {f: sum(e.kind == "thumbs_up" and e.feature == f for e in events)
           for f in ("chart:scatter", "chart:bar")}
    assert ups["chart:scatter"] > 3 * ups["chart:bar"]


def test_position_bias_top_slots_are_looked_at_more(tiles):
    user = SimulatedUser(deviation={f: 0.0 for f in FEATURES})
    rng = np.random.default_rng(1)
    seen = np.zeros(len(tiles))
    for _ in range(400):
        looked = {e.tile for e in user.session(tiles, rng) if e.kind == "dwell"}
        seen += [t.id in looked for t in tiles]
    assert seen[0] == 400  # slot 0 is always looked at
    assert seen[-1] < seen[0] / 3
    assert np.allclose(seen / 400, user.reach(tiles), atol=0.06)


def test_engagement_is_the_expected_number_of_liked_tiles(tiles):
    user = SimulatedUser(skill="novice", noise=0.2, deviation={"missing": 1.0})
    rng = np.random.default_rng(2)
    clicks = [sum(e.kind == "click" for e in user.session(tiles, rng)) for _ in range(3000)]
    assert np.mean(clicks) == pytest.approx(user.engagement(tiles), rel=0.05)


def test_oracle_layout_is_the_best_order(tiles):
    user = SimulatedUser(skill="expert", column_tastes={"wind": 1.0}, viewport="narrow")
    few = tiles[:5]
    best = max(user.engagement(list(p)) for p in itertools.permutations(few))
    oracle = user.oracle_layout(Layout(few, n_columns=2))
    assert user.engagement(oracle) == pytest.approx(best)
    assert oracle.n_columns == 2 and sorted(oracle.ids) == sorted(t.id for t in few)


def test_skill_shifts_tastes(tiles):
    scatter, overview = by_feature(tiles, "chart:scatter"), by_feature(tiles, "overview")
    novice, expert = SimulatedUser(skill="novice"), SimulatedUser(skill="expert")
    assert novice.appeal(overview) > novice.appeal(scatter)
    assert expert.appeal(scatter) > expert.appeal(overview)


def test_random_walk_drift_changes_tastes_and_reset_restores_them(tiles):
    user = SimulatedUser(drift="walk", drift_scale=0.5)
    before = user.tastes
    rng = np.random.default_rng(3)
    for _ in range(10):
        user.session(tiles, rng)
    assert user.sessions_done == 10
    assert max(abs(user.tastes[f] - before[f]) for f in FEATURES) > 0.5
    user.reset()
    assert user.tastes == before and user.sessions_done == 0


def test_switch_drift_moves_the_user_up_a_skill_level(tiles):
    user = SimulatedUser(skill="novice", drift="switch", switch_after=3)
    scatter = by_feature(tiles, "chart:scatter")
    rng = np.random.default_rng(4)
    appeal = user.appeal(scatter)
    for _ in range(3):
        user.session(tiles, rng)
    assert user.current_skill == "analyst" and user.appeal(scatter) > appeal
    for _ in range(6):
        user.session(tiles, rng)
    assert user.current_skill == "expert" and user.skill == "novice"  # parameter unchanged


def test_no_drift_keeps_tastes(tiles):
    user = SimulatedUser()
    before = user.tastes
    user.session(tiles, np.random.default_rng(5))
    assert user.tastes == before


def test_sessions_and_populations_are_seeded(tiles):
    def run(seed):
        population = Population(n_users=5, seed=seed, columns=("wind", "weather"),
                                user_params={"drift": "walk"})
        rng = np.random.default_rng(seed)
        return [population.sample(rng).session(tiles, rng) for _ in range(10)]

    assert run(7) == run(7)
    assert run(7) != run(8)
    first, second = Population(4, seed=1), Population(4, seed=1)
    assert [u.deviation for u in first] == [u.deviation for u in second]
    assert [u.name for u in first] == ["u000", "u001", "u002", "u003"]


def test_events_are_well_formed(tiles):
    user = SimulatedUser(name="ann", feedback_rate=1.0, task_rate=1.0)
    events = user.session(Layout(tiles), np.random.default_rng(6), dashboard="d")
    assert events and all(e.user == "ann" and e.dashboard == "d" for e in events)
    assert {e.tile for e in events} <= {t.id for t in tiles}
    assert all(e.feature == tile_feature(next(t for t in tiles if t.id == e.tile))
               for e in events)
    assert sum(e.kind == "task_done" for e in events) <= 1
    assert all(e.value >= 0.25 for e in events if e.kind == "dwell")


@pytest.mark.parametrize("bad", [{"skill": "guru"}, {"viewport": "huge"}, {"drift": "fast"},
                                 {"deviation": {"chart:pie": 1.0}}, {"noise": 2.0}])
def test_bad_parameters_raise_agent_errors(bad):
    with pytest.raises(AgentError):
        SimulatedUser(**bad)
    with pytest.raises(AgentError, match="at least one user"):
        Population(n_users=0)
