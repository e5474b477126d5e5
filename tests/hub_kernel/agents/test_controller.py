"""The controller and the design agent: reward, exploration, transfer, learning, fallback."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hub_kernel.agents.common.events import InteractionEvent
from hub_kernel.agents.controller import MetaController, consistent
from hub_kernel.agents.layout.design import DesignAgent
from hub_kernel.agents.session import PASSIVE_WEIGHT
from hub_kernel.core.bus import EventBus
from hub_kernel.data import profile_dataset
from hub_kernel.exceptions import AgentError
from hub_kernel.layout import default_layout
from hub_kernel.safety.audit import AuditLog
from hub_kernel.safety.guard import FailureLog
from hub_kernel.safety.modes import Controls


def frame(seed: int = 0, n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "date": pd.date_range("2024-01-01", periods=n, freq="D"),
        "sales": rng.gamma(2, 10, n), "visits": rng.poisson(30, n).astype(float),
        "cost": rng.normal(5, 1, n), "region": rng.choice(["north", "south", "east"], n),
    })


@pytest.fixture
def setup(hub_home):
    data = frame()
    profile = profile_dataset(data)
    return profile, default_layout(profile)


def test_bus_isolates_failing_handlers_and_rejects_unknown_topics():
    bus, seen = EventBus(), []
    bus.subscribe("interaction", lambda e: 1 / 0)
    bus.subscribe("interaction", lambda e: seen.append(e.payload["tile"]))
    failures = []
    bus.subscribe("agent_failed", lambda e: failures.append(e.payload["error"]))
    bus.publish("interaction", tile="a")
    assert seen == ["a"] and failures == ["ZeroDivisionError: division by zero"]
    with pytest.raises(AgentError, match="unknown event topic"):
        bus.publish("made_up")


def test_reward_uses_the_weights_in_settings(hub_home, monkeypatch):
    from hub_kernel.core import config

    terms = {"engagement": 1.0, "accuracy": 0.0, "task_completion": 1.0, "satisfaction": 0.0,
             "efficiency": 0.0}
    assert MetaController.reward(terms) == pytest.approx(0.30 + 0.20)
    monkeypatch.setenv("HUB_REWARD_WEIGHTS__ENGAGEMENT", "0")
    config.reload_settings()
    assert MetaController.reward(terms) == pytest.approx(0.20 / 0.70)
    with pytest.raises(ValueError, match="unknown reward terms"):
        MetaController.reward({"clicks": 1})


def test_exploration_decays_with_deliberate_interactions_only(setup):
    profile, layout = setup
    controller = MetaController()
    fresh = controller.exploration("ann", "autonomous")
    assert fresh == pytest.approx(0.25)
    assert controller.exploration("ann", "assisted") < fresh
    session = controller.open(layout, user="ann", dashboard="d", profile=profile)
    for _ in range(30):  # a page left open: dwell, clicks, measured times
        session.interact("overview", "dwell", 2.0)
        session.interact("overview", "click")
        session.interact("overview", "render", 0.1)
    assert controller.exploration("ann", "autonomous") == pytest.approx(0.25)
    assert controller.user_group("ann") == "new"
    for _ in range(40):
        session.interact("overview", "thumbs_up")
    assert controller.exploration("ann", "autonomous") == pytest.approx(0.25 / 4)
    assert controller.user_group("ann") == "returning"
    assert controller.exploration("bob", "autonomous") == pytest.approx(0.25)


def test_layout_only_shows_tiles_whose_columns_exist(setup):
    _, layout = setup
    smaller = profile_dataset(frame().drop(columns=["sales", "region"]))
    fitted = consistent(layout, smaller)
    assert fitted.ids and all(set(t.columns) <= {"date", "visits", "cost"} for t in fitted)
    assert len(fitted) < len(layout)


def run_user(session, likes: str, dislikes: str, rounds: int) -> list[int]:
    """A simulated user who rewards one tile and rejects another; returns the liked tile's
    slot after each round."""
    slots = []
    for _ in range(rounds):
        if dislikes in session.layout:
            session.interact(dislikes, "thumbs_down")
        session.interact(likes, "thumbs_up")
        session.relayout()
        slots.append(session.layout.slot_of(likes))
    return slots


def test_agent_learns_a_users_taste_and_removes_a_rejected_tile(setup):
    profile, layout = setup
    Controls().set_mode("supervised", user="ann")
    controller = MetaController(agent=DesignAgent(seed=1))
    session = controller.open(layout, user="ann", dashboard="d", profile=profile)
    liked, disliked = layout.ids[-1], layout.ids[1]
    slots = run_user(session, liked, disliked, rounds=3)
    assert slots[-1] == 0 and slots[0] <= len(layout) - 1
    assert disliked not in session.layout
    why = AuditLog().entries(action="apply layout")[-1]
    assert why.propensity is not None and 0 < why.propensity <= 1
    assert "runner-up" in why.explanation and why.expected_reward is not None
    outcomes = AuditLog().entries(action="outcome")
    assert outcomes and all(o.outcome_reward is not None and o.ref for o in outcomes)
    # the next session of the same user starts from what was learned
    fresh = default_layout(profile)
    start = controller.starting_layout(fresh, user="ann", dashboard="d", profile=profile)
    assert start.ids[0] == liked and disliked not in start


def test_new_user_on_a_similar_dataset_starts_from_the_population(setup):
    profile, _ = setup
    Controls().set_mode("autonomous")
    controller = MetaController(agent=DesignAgent(seed=2))
    for user in ("u1", "u2", "u3"):
        session = controller.open(default_layout(profile), user=user, dashboard="shop-a",
                                  profile=profile)
        for _ in range(3):
            session.interact("missing", "thumbs_up")
        session.relayout()
    other = profile_dataset(frame(seed=5, n=300))  # another dataset of the same shape
    newcomer = controller.open(default_layout(other), user="zoe", dashboard="shop-b",
                               profile=other)
    newcomer.relayout()
    assert newcomer.layout.ids[0] == "missing"


def test_a_crashing_agent_leaves_the_last_good_layout(setup):
    profile, layout = setup
    Controls().set_mode("autonomous")

    class Broken(DesignAgent):
        def decide(self, *args, **kwargs):
            raise RuntimeError("policy weights are NaN")

    controller = MetaController(agent=Broken())
    session = controller.open(layout, user="ann", dashboard="d", profile=profile)
    before = layout.to_dict()
    assert session.relayout() is None
    assert session.layout.to_dict() == before
    failures = FailureLog().recent()
    assert failures and "policy weights are NaN" in failures[-1].error
    assert AuditLog().entries(action="fallback")

    from hub_kernel.core.config import get_settings
    from hub_kernel.doctor import check_agents

    check = check_agents(get_settings())
    assert check.status == "warn" and "policy weights are NaN" in check.detail


def test_a_policy_rollout_serves_a_fraction_of_sessions_and_collects_their_rewards(setup):
    from hub_kernel.safety.rollout import Rollout
    from hub_kernel.safety.versions import VersionStore

    profile, layout = setup
    Controls().set_mode("autonomous")
    controller = MetaController(agent=DesignAgent(seed=3))
    first = controller.open(layout, user="ann", dashboard="d", session="s-0")
    assert first.policy_version == 1 and first.agent.params == DesignAgent().params
    bolder = {**first.agent.params.to_dict(), "remove_after_downs": 1.0}
    VersionStore().save("policy", "design", bolder, author="lead", reason="remove sooner")
    Rollout("design").start(2, fraction=0.5, author="lead")
    sessions = [controller.open(default_layout(profile), user=f"u{i}", dashboard="d",
                                session=f"s-{i}") for i in range(1, 13)]
    versions = {s.policy_version for s in sessions}
    assert versions == {1, 2}
    for s in sessions:
        assert s.agent.params.remove_after_downs == (1.0 if s.policy_version == 2 else 2.0)
        s.interact("overview", "thumbs_up")
        s.relayout()
        s.interact("overview", "thumbs_up")
        s.relayout()  # the second round scores the first: its reward goes to the rollout
    status = Rollout("design").status()
    assert status.baseline_n + status.candidate_n == 12 and status.state == "running"


def test_reward_parity_between_new_and_returning_users_is_monitored(setup, monkeypatch):
    from hub_kernel.agents.common.events import EventStore
    from hub_kernel.core import config
    from hub_kernel.doctor import check_reward_parity

    monkeypatch.setenv("HUB_REWARD_PARITY_MIN_COUNT", "5")
    config.reload_settings()
    controller = MetaController()
    store = EventStore()
    for i in range(8):  # new users get far less out of their rounds than returning ones
        store.add_reward(user=f"n{i}", session=f"a{i}", dashboard="d", group="new",
                         reward=0.2 + 0.01 * i, explored=True)
        store.add_reward(user=f"r{i}", session=f"b{i}", dashboard="d", group="returning",
                         reward=0.7 + 0.01 * i, explored=False)
    report = controller.parity(audit=True)
    assert report.starved == ("new",)
    assert AuditLog().entries(agent="design")
    check = check_reward_parity(config.get_settings())
    assert check.status == "warn" and "new" in check.detail


def test_round_rewards_are_recorded_per_user_group(setup):
    profile, layout = setup
    controller = MetaController(agent=DesignAgent(seed=4))
    session = controller.open(layout, user="ann", dashboard="d", profile=profile)
    assert session.group == "new"
    session.interact("overview", "thumbs_up")
    session.relayout()
    session.interact("overview", "thumbs_up")
    session.relayout()
    groups = [g for g, _, _ in controller.events.rewards()]
    assert groups == ["new", "new"]  # the round on the opening layout, then the next one


def test_a_pretrained_policy_is_the_cold_start_prior_of_live_sessions(setup, monkeypatch):
    from hub_kernel.agents.layout.pretrain import agents_dir, pretrain
    from hub_kernel.core import config

    monkeypatch.setenv("HUB_USE_PRETRAINED_PRIOR", "true")
    config.reload_settings()
    profile, layout = setup
    controller = MetaController(agent=DesignAgent(seed=5))
    assert controller.pretrained_prior(layout, "ann", [], profile) == {}
    pretrain(timesteps=128, seed=0, directory=agents_dir(), eval_episodes=5)
    prior = controller.pretrained_prior(layout, "ann", [], profile)
    assert set(prior) == set(layout.ids) and all(-0.5 < v < 0.5 for v in prior.values())
    assert any(v != 0 for v in prior.values())
    session = controller.open(layout, user="ann", dashboard="d", profile=profile)
    session.relayout()  # the prior flows into the design agent's values without error
    assert not session.failed


def test_a_user_who_states_a_skill_starts_from_people_of_that_skill(setup):
    profile, _ = setup
    Controls().set_mode("autonomous")
    controller = MetaController(agent=DesignAgent(seed=6))
    for user, skill, liked in (("n1", "novice", "overview"), ("n2", "novice", "overview"),
                               ("e1", "expert", "missing"), ("e2", "expert", "missing"),
                               ("e3", "expert", "missing")):
        controller.events.set_skill(user, skill)
        session = controller.open(default_layout(profile), user=user, dashboard="d",
                                  profile=profile)
        for _ in range(3):
            session.interact(liked, "thumbs_up")
        session.relayout()
    controller.events.set_skill("newbie", "novice")
    newbie = controller.open(default_layout(profile), user="newbie", dashboard="d",
                             profile=profile)
    newbie.relayout()
    assert newbie.layout.ids[0] == "overview"  # the experts' taste does not leak in
    controller.events.set_skill("pro", "expert")
    pro = controller.open(default_layout(profile), user="pro", dashboard="d", profile=profile)
    pro.relayout()
    assert pro.layout.ids[0] == "missing"


def test_feedback_reaches_the_shared_learner_through_the_bus(setup):
    profile, layout = setup
    bus, seen = EventBus(), []
    bus.subscribe("interaction", lambda e: seen.append(e.payload["kind"]))
    controller = MetaController(bus=bus)
    session = controller.open(layout, user="ann", dashboard="d", profile=profile)
    tile = layout[layout.ids[1]]
    x = controller.learner().vector(session.viewer.attributes(tile))
    before = controller.learner().mean(x)[0]
    session.interact(tile.id, "thumbs_up")
    assert controller.learner().n == pytest.approx(1.0)
    assert controller.learner().mean(x)[0] > before + 0.1
    session.interact(tile.id, "dwell", 3.0)
    session.interact(layout.ids[2], "dwell", 8.0)
    assert controller.learner().n == pytest.approx(1.0)  # dwell waits for the round's end
    session.interact("dashboard", "done")
    session.relayout()
    # both tiles' dwell teaches: a pass (3 s, 2 s short of the line) and a look (8 s)
    assert controller.learner().n == pytest.approx(1.0 + PASSIVE_WEIGHT * (0.4 + 0.6))
    assert seen == ["thumbs_up", "dwell", "dwell", "done"]
    assert [e.kind for e in controller.events.events(user="ann")] == seen


def test_passive_evidence_weighs_how_clearly_dwell_says_looked_at_or_passed_by():
    from hub_kernel.agents.session import (
        LOOKED_AT,
        PASSED_BY,
        PASSIVE_WEIGHT,
        passive_evidence,
        tile_rewards,
    )

    def ev(tile, kind, value=1.0):
        return InteractionEvent("ann", "s", "d", tile, kind, value)

    rows = passive_evidence([ev("a", "dwell", 0.5), ev("b", "dwell", 4.5), ev("c", "dwell", 6),
                             ev("c", "dwell", 30), ev("d", "click")])
    assert rows["a"] == (PASSED_BY, pytest.approx(PASSIVE_WEIGHT * 0.9))  # a glance: clear
    assert rows["b"][0] == PASSED_BY and rows["b"][1] < rows["a"][1]  # near the line
    assert rows["c"] == (LOOKED_AT, pytest.approx(PASSIVE_WEIGHT))  # capped at 10 s
    assert "d" not in rows  # no dwell, nothing passive
    rewards = tile_rewards([ev("a", "dwell", 9.0), ev("a", "thumbs_up"), ev("b", "render", 2)])
    assert set(rewards) == {"a"}
    look = PASSIVE_WEIGHT * 0.8  # 9 s: 4 s past the line
    assert rewards["a"] == pytest.approx((1.0 + LOOKED_AT * look) / (1.0 + look))
