"""The design agent: chart type, width and order from the shared learner."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hub_kernel.agents.common.learner import TileLearner, Viewer
from hub_kernel.agents.layout.design import DesignAgent, DesignContext
from hub_kernel.agents.plan import cheap_tiles, tile_chart_candidates
from hub_kernel.data import profile_dataset
from hub_kernel.layout import Layout


@pytest.fixture
def setting():
    rng = np.random.default_rng(0)
    n = 3000
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.gamma(2, size=n),
                          "c": rng.normal(size=n), "g": rng.choice(["x", "y"], n)})
    profile = profile_dataset(frame)
    layout = Layout(cheap_tiles(profile), 3)
    return profile, layout


def taught(layout: Layout, viewer: Viewer, likes: str, dislikes: str) -> TileLearner:
    """A learner told (by this viewer) that ``likes`` charts are good and ``dislikes`` bad."""
    learner = TileLearner()
    rows, rewards = [], []
    for tile in layout:
        if tile.kind != "chart":
            continue
        for chart, reward in ((likes, 1.0), (dislikes, 0.0)):
            variant = tile.model_copy(update={"chart_type": chart})
            rows += [learner.vector(viewer.attributes(variant))] * 3
            rewards += [reward] * 3
    learner.update(np.vstack(rows), rewards)
    return learner


def decide(layout, profile, learner, viewer, epsilon=0.0, seed=0):
    candidates = {t.id: tile_chart_candidates(t, profile) for t in layout}
    return DesignAgent(seed=seed).decide(DesignContext(layout, [], learner, viewer, candidates,
                                                       epsilon=epsilon))


def test_chart_types_come_from_the_candidates_and_follow_what_was_learned(setting):
    profile, layout = setting
    viewer = Viewer.of(profile, "ann")
    proposal = decide(layout, profile, taught(layout, viewer, "box", "histogram"), viewer)
    after = Layout.from_dict(proposal.layout)
    for tile in after:
        candidates = tile_chart_candidates(layout[tile.id], profile)
        assert tile.chart_type in (candidates or (layout[tile.id].chart_type,))
    singles = [t for t in after if t.kind == "chart" and len(t.columns) == 1
               and profile.column(t.columns[0]).kind == "numeric"]
    assert singles and all(t.chart_type == "box" for t in singles)
    assert "as a box instead of a histogram" in proposal.explanation
    assert 0 < proposal.propensity <= 1 and proposal.expected_reward is not None


def test_pinned_and_locked_tiles_keep_their_chart_and_size(setting):
    profile, layout = setting
    viewer = Viewer.of(profile, "ann")
    numeric = [t.id for t in layout if t.chart_type == "histogram"]
    layout.pin(numeric[0])
    layout.lock(numeric[1])
    pinned_slot = layout.slot_of(numeric[0])
    learner = taught(layout, viewer, "box", "histogram")
    for seed in range(5):  # exploring or not
        after = Layout.from_dict(decide(layout, profile, learner, viewer, epsilon=0.5,
                                        seed=seed).layout)
        for tile_id in numeric[:2]:
            assert after[tile_id].chart_type == "histogram"
            assert after[tile_id].width == layout[tile_id].width
        assert after.slot_of(numeric[0]) == pinned_slot
    greedy = Layout.from_dict(decide(layout, profile, learner, viewer).layout)
    assert greedy[numeric[2]].chart_type == "box"  # the free one follows the learner


def test_rejected_twice_leaves_and_exploring_propensity_is_a_probability(setting):
    from hub_kernel.agents.common.events import InteractionEvent

    profile, layout = setting
    viewer = Viewer.of(profile, "ann")
    learner = TileLearner()
    gone = layout.ids[2]
    x = learner.vector(viewer.attributes(layout[gone]))
    learner.update(np.vstack([x, x]), [0.0, 0.0])
    events = [InteractionEvent("ann", "s", "d", gone, "thumbs_down")] * 2
    candidates = {t.id: tile_chart_candidates(t, profile) for t in layout}
    proposals = [DesignAgent(seed=s).decide(DesignContext(layout, events, learner, viewer,
                                                          candidates, epsilon=0.3))
                 for s in range(6)]
    for p in proposals:
        assert gone not in Layout.from_dict(p.layout)
        assert 0 < p.propensity <= 1
    assert any(p.explanation.startswith("exploring") for p in proposals)
