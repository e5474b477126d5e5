"""Transfer between the report agent and the dashboard agents, through the shared learner.

What people value in dashboards informs the report agent's section priors, and the reverse:
``TileTransfer.shifts`` reads, per section, the shared contextual learner's
(``agents.common.learner``) view of the dashboard tile kinds telling the same story
(``sections.SECTION_TILES``); ``TileTransfer.record`` sends a reader's deliberate feedback on a
section into that learner as feedback on those tile kinds, marked ``surface=report``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable

import numpy as np

from hub_kernel.agents.common.learner import TILE_REWARD, LearnerStore, TileLearner, tile_attributes
from hub_kernel.agents.report.sections import SECTION_TILES
from hub_kernel.exceptions import HubError
from hub_kernel.layout import Tile

logger = logging.getLogger("hub_kernel")

#: the shared contextual learner of the dashboard agents (``LearnerStore`` name)
TILE_LEARNER = "tiles"
#: the attribute marking tile-learner evidence that came from a report, not a dashboard
REPORT_SURFACE = "surface=report"


@functools.lru_cache(maxsize=4)
def _fresh(dimension: int) -> TileLearner:
    """A learner at its prior (what a tile nobody judged is expected to earn)."""
    return TileLearner(dimension=dimension)


class TileTransfer:
    """The bridge between report sections and the dashboard's shared tile learner."""

    def __init__(self, store: LearnerStore | None = None, *, name: str = TILE_LEARNER,
                 weight: float = 2.0, quick_close_seconds: float = 3.0) -> None:
        self.store = store or LearnerStore()
        self.name = name
        self.weight = weight
        self.quick_close_seconds = quick_close_seconds
        self._hasher = TileLearner()  # vectors need the dimension only, not the evidence

    @staticmethod
    def tile(kind: str) -> Tile:
        """A tile of ``kind`` as the learner sees it (no columns: about the kind itself)."""
        return Tile(id=kind.replace("analysis-", "an-")[:64], kind=kind, title=kind)

    def shifts(self, sections: Iterable[str]) -> dict[str, float]:
        """Per section, how far the learner's expected reward of its tile kinds (the weight of
        the ``kind=`` attribute) is from that of a kind nobody judged (0 without matching
        tiles or evidence), times ``weight``."""
        wanted = [s for s in sections if SECTION_TILES.get(s)]
        if not wanted:
            return {}
        try:
            learner = self.store.load(self.name)
        except HubError as exc:  # the report goes on from its own priors
            logger.warning("report priors without the tile learner: %s", exc)
            return {}
        if learner.n <= 0:
            return {}
        # the kind's own weight: what people think of this analysis beyond tiles in general
        # (a thumbs up on any tile also raises the bias, which says nothing about sections)
        rows = [(s, learner.vector({f"kind={k}": 1.0}))
                for s in wanted for k in SECTION_TILES[s]]
        X = np.vstack([x for _, x in rows])
        shift = learner.mean(X) - _fresh(learner.dimension).mean(X)
        out: dict[str, float] = {}
        for section in wanted:
            mine = [d for (s, _), d in zip(rows, shift, strict=True) if s == section]
            out[section] = self.weight * float(np.mean(mine))
        return out

    def reward(self, kind: str, value: float) -> float | None:
        """The tile reward of a reader's feedback (``None``: not deliberate feedback)."""
        if kind in ("thumbs_up", "thumbs_down", "expand"):
            return TILE_REWARD[kind]
        if kind == "collapse" and value < self.quick_close_seconds:
            return TILE_REWARD["dismiss"]  # closed within seconds: not wanted
        return None

    def record(self, section: str, kind: str, value: float = 1.0, *,
               user: str | None = None) -> bool:
        """Send a reader's feedback on ``section`` into the tile learner, as feedback on its
        tile kinds marked ``surface=report``; whether anything was sent."""
        reward = self.reward(kind, value)
        kinds = SECTION_TILES.get(section, ())
        if reward is None or not kinds:
            return False
        weight = abs(value) if kind in ("thumbs_up", "thumbs_down", "expand") else 1.0
        if weight <= 0:
            return False
        try:
            rows = [self._hasher.vector({**tile_attributes(self.tile(k), user=user),
                                         REPORT_SURFACE: 1.0}) for k in kinds]
            share = weight / len(kinds)
            self.store.update(self.name, np.vstack(rows), [reward] * len(rows),
                              [share] * len(rows))
        except HubError as exc:  # kept in the report store anyway
            logger.warning("report feedback not sent to the tile learner: %s", exc)
            return False
        return True
