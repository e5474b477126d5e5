"""The reward terms of one round of a dashboard, from its interaction events.

One definition for live sessions (``DashboardSession.round_terms``) and simulated ones
(``agents.layout.simulate``); docs/reward.md explains each term. The controller weighs them
with the settings' reward weights.
"""

from __future__ import annotations

from collections.abc import Iterable

from hub_kernel.agents.common.events import InteractionEvent

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
