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
# dwell counts up to this many seconds per tile (a tab left open is not more engagement)
DWELL_CAP_SECONDS = 10.0
#: what a person does with a tile on purpose (each counts half of a tile's engagement)
DELIBERATE = ("thumbs_up", "thumbs_down", "expand", "pin", "click", "first", "task_done",
              "dismiss")
REJECTING = ("thumbs_down", "dismiss")
#: events that mean the viewer got what they came for
COMPLETING = ("task_done", "done", "train", "export")
#: seconds of compute and render per tile the efficiency term is measured against
SECONDS_PER_TILE = 1.0
NEUTRAL_QUALITY = 0.5  # the accuracy of a tile nobody measured


def reward_terms(events: Iterable[InteractionEvent], n_tiles: int, *,
                 quality: Mapping[str, float] | None = None,
                 failures: float = 0.0) -> dict[str, float]:
    """A round's reward terms over the ``n_tiles`` tiles shown (docs/reward.md).

    ``quality``: tile id -> statistical support / held-out score in [0, 1] of what a tile
    shows (tiles without one count ``NEUTRAL_QUALITY``). ``failures``: extra cost in units of
    the time budget (offline: simulated render time over budget)."""
    events = list(events)
    tiles = max(n_tiles, 1)
    quality = quality or {}
    dwell: dict[str, float] = {}
    acts: dict[str, int] = {}
    seconds = 0.0
    for e in events:
        if e.kind == "dwell":
            dwell[e.tile] = dwell.get(e.tile, 0.0) + max(e.value, 0.0)
        elif e.kind in DELIBERATE:
            acts[e.tile] = acts.get(e.tile, 0) + 1
        elif e.kind in ("compute", "render"):
            seconds += max(e.value, 0.0)
    engaged = {tile: min(1.0, 0.5 * acts.get(tile, 0)
                         + 0.5 * min(dwell.get(tile, 0.0), DWELL_CAP_SECONDS)
                         / DWELL_CAP_SECONDS)
               for tile in set(dwell) | set(acts)}
    rejected = {e.tile for e in events if e.kind in REJECTING}
    shown_quality = [min(max(float(v), 0.0), 1.0) for v in quality.values()]
    mean_quality = (sum(shown_quality) + NEUTRAL_QUALITY * max(tiles - len(shown_quality), 0)) \
        / max(tiles, len(shown_quality))
    ups = sum(e.kind == "thumbs_up" for e in events)
    downs = sum(e.kind in REJECTING for e in events)
    satisfaction = [(ups + 1) / (ups + downs + 2)]
    ratings = [e.value for e in events if e.kind == "rating"]
    if ratings:
        satisfaction.append(min(max((ratings[-1] - 1) / 4, 0.0), 1.0))
    budget = SECONDS_PER_TILE * tiles
    return {
        "engagement": min(1.0, sum(engaged.values()) / tiles),
        "accuracy": max(0.0, mean_quality - len(rejected) / tiles),
        "task_completion": float(any(e.kind in COMPLETING for e in events)),
        "satisfaction": sum(satisfaction) / len(satisfaction),
        "efficiency": 1.0 / (1.0 + seconds / budget + failures),
    }


def weighted_reward(terms: Mapping[str, float]) -> float:
    """The product's reward: weighted terms (missing terms count 0), weights normalized."""
    weights = get_settings().reward_weights.normalized()
    unknown = set(terms) - set(weights)
    if unknown:
        raise ValueError(f"unknown reward terms {sorted(unknown)}; known: {sorted(weights)}")
    return float(sum(weights[k] * float(v) for k, v in terms.items()))
