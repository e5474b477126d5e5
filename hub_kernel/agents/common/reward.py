"""The reward terms of one round of a dashboard, from its interaction events.

One definition for live sessions (``DashboardSession.round_terms``) and simulated ones
(``agents.layout.env``); docs/reward.md explains each term. ``weighted_reward`` weighs them with
the settings' reward weights: the one product reward the controller and the pre-training
environment both use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from hub_kernel.agents.common.events import InteractionEvent
from hub_kernel.core.config import get_settings

# time on screen in a round (summed) that counts as looking at a tile, not passing it by
ENGAGED_DWELL_SECONDS = 5.0
DELIBERATE = ("thumbs_up", "expand", "pin", "click", "first")
REJECTING = ("thumbs_down", "dismiss")


def reward_terms(events: Iterable[InteractionEvent], n_tiles: int, *,
                 failures: float = 0.0) -> dict[str, float]:
    """A round's reward terms; ``failures`` counts what went wrong with the system (live:
    agent failures; simulated: render time over budget)."""
    events = list(events)
    tiles = max(n_tiles, 1)
    dwell: dict[str, float] = {}
    for e in events:
        if e.kind == "dwell":
            dwell[e.tile] = dwell.get(e.tile, 0.0) + e.value
    engaged = {e.tile for e in events if e.kind in DELIBERATE}
    engaged |= {tile for tile, seconds in dwell.items() if seconds >= ENGAGED_DWELL_SECONDS}
    ups = sum(e.kind == "thumbs_up" for e in events)
    downs = sum(e.kind in REJECTING for e in events)
    rejected = {e.tile for e in events if e.kind in REJECTING}
    return {
        "engagement": len(engaged) / tiles,
        "accuracy": 1 - len(rejected) / tiles,
        "task_completion": float(any(e.kind == "task_done" for e in events)),
        "satisfaction": (ups + 1) / (ups + downs + 2),
        "efficiency": 1.0 / (1.0 + failures),
    }


def weighted_reward(terms: Mapping[str, float]) -> float:
    """The product's reward: weighted terms (missing terms count 0), weights normalized."""
    weights = get_settings().reward_weights.normalized()
    unknown = set(terms) - set(weights)
    if unknown:
        raise ValueError(f"unknown reward terms {sorted(unknown)}; known: {sorted(weights)}")
    return float(sum(weights[k] * float(v) for k, v in terms.items()))
