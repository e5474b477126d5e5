"""Simulated dashboard users: for offline pre-training, tests and the layout benchmark.

A ``SimulatedUser`` has hidden tastes (a logit per tile feature such as ``chart:scatter``, plus
optional per-column interest), a skill level that shifts those tastes (novices like overviews and
bar charts, experts scatter plots and missing-value maps), position bias, noise, and tastes that
may drift between sessions. ``session(layout, rng)`` returns the ``InteractionEvent``s a session on
that layout produces, drawn from this user model:

- **Attention with abandonment.** The user looks at slot 0, then moves on to the next slot with
  probability ``decay`` after a tile they liked and ``decay * patience`` after one they did not
  (a dull dashboard is left early). ``decay`` is ``position_decay`` adjusted by the viewport: a
  narrow screen shows fewer tiles at a time, so attention falls faster.
- **Reaction.** A tile looked at is liked with probability ``like_probability(tile)``:
  ``(1 - noise) * sigmoid(taste) + noise / 2``. Liked: a ``dwell`` of several seconds, a
  ``click``, and with some probability ``expand``, ``thumbs_up`` and (once per session)
  ``task_done``. Not liked: a short ``dwell``, and with some probability ``thumbs_down`` or
  ``dismiss``. Tiles never looked at produce nothing.

Because liking a tile only raises the chance of going on, the expected number of liked tiles,
``engagement(layout)``, is largest when tiles are sorted by like probability (an exchange argument:
swapping neighbours a, b with p_a > p_b changes it by (p_a - p_b)(1 - decay * patience) >= 0).
That ordering is ``oracle_layout(tiles)``; regret is measured against it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from hub_kernel.agents.common.events import InteractionEvent
from hub_kernel.agents.layout.design import FAILURE, SUCCESS, tile_feature
from hub_kernel.exceptions import AgentError
from hub_kernel.layout import Layout, Tile, default_layout, tile_id_for

logger = logging.getLogger("hub_kernel")

Skill = Literal["novice", "analyst", "expert"]
Viewport = Literal["narrow", "medium", "wide"]
Drift = Literal["none", "walk", "switch"]

FEATURES: tuple[str, ...] = ("overview", "missing", "chart:histogram", "chart:line", "chart:bar",
                             "chart:scatter")
SKILLS: tuple[Skill, ...] = ("novice", "analyst", "expert")
VIEWPORTS: tuple[Viewport, ...] = ("narrow", "medium", "wide")

# taste (logit) per tile feature by skill level: what a typical user of that level likes
SKILL_TASTES: dict[str, dict[str, float]] = {
    "novice": {"overview": 1.2, "missing": -1.0, "chart:histogram": -0.4, "chart:line": 0.4,
               "chart:bar": 1.0, "chart:scatter": -1.2},
    "analyst": {"overview": 0.2, "missing": -0.4, "chart:histogram": 0.6, "chart:line": 0.9,
                "chart:bar": 0.3, "chart:scatter": 0.1},
    "expert": {"overview": -0.8, "missing": 0.6, "chart:histogram": 0.7, "chart:line": 0.3,
               "chart:bar": -0.5, "chart:scatter": 1.2},
}
# attention decay is raised to this power: a narrow screen shows one tile at a time
VIEWPORT_POWER: dict[str, float] = {"narrow": 1.5, "medium": 1.0, "wide": 0.75}
# seconds to draw a tile of each feature on 1,000 rows (grows with the log of the rows)
RENDER_SECONDS: dict[str, float] = {"overview": 0.15, "missing": 0.10, "chart:histogram": 0.25,
                                    "chart:line": 0.35, "chart:bar": 0.20, "chart:scatter": 0.60}
RENDER_BUDGET = 2.0  # seconds for the tiles above the fold; more counts against efficiency
# slots above the fold (seen without scrolling) by viewport
FOLD_SLOTS: dict[str, int] = {"narrow": 2, "medium": 4, "wide": 6}


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def feature_render_seconds(feature: str, n_rows: int = 1000) -> float:
    """Expected time to draw a one-cell tile of ``feature`` on ``n_rows`` rows (simulated)."""
    base = RENDER_SECONDS.get(feature, 0.3)
    return base * (1.0 + max(math.log10(max(n_rows, 1)) - 3.0, 0.0) / 2.0)


def render_seconds(tile: Tile, n_rows: int = 1000) -> float:
    """Expected time to draw ``tile`` on a dataset of ``n_rows`` rows (wider tiles draw more)."""
    return feature_render_seconds(tile_feature(tile), n_rows) * tile.width


def candidate_tiles(profile: Any, n_columns: int = 3) -> list[Tile]:
    """The tiles an agent may arrange for ``profile``: the default layout's (with up to five
    charts) plus a scatter plot of the two most variable numeric columns."""
    tiles = list(default_layout(profile, n_columns=n_columns, max_charts=5).tiles)
    numeric = sorted(profile.of_kind("numeric"), key=lambda c: -abs(c.stats.get("std", 0.0)))
    if len(numeric) >= 2:
        x, y = numeric[0].name, numeric[1].name
        scatter = Tile(id=tile_id_for("scatter", x, y), kind="chart", title=f"{y} against {x}",
                       columns=(x, y), chart_type="scatter")
        tiles.insert(len(tiles) - 1, scatter)  # before "missing values"
    return tiles


@dataclass
class SimulatedUser:
    """A parametrized user with hidden tastes. Parameters are stored unchanged; what drifts
    (tastes, skill, sessions seen) is state, reset by ``reset()``."""

    name: str = "sim"
    skill: Skill = "analyst"
    deviation: Mapping[str, float] = field(default_factory=dict)  # taste offsets by feature
    column_tastes: Mapping[str, float] = field(default_factory=dict)  # offsets by column
    position_decay: float = 0.8
    patience: float = 0.6
    noise: float = 0.1
    feedback_rate: float = 0.4  # chance of a thumbs up (liked) or thumbs down (not liked)
    expand_rate: float = 0.3
    dismiss_rate: float = 0.1
    task_rate: float = 0.5
    viewport: Viewport = "medium"
    drift: Drift = "none"
    drift_scale: float = 0.3  # "walk": std of the per-session step of each taste
    switch_after: int = 20  # "switch": sessions after which the user moves up a skill level

    def __post_init__(self) -> None:
        if self.skill not in SKILLS:
            raise AgentError(f"unknown skill {self.skill!r}; use one of {', '.join(SKILLS)}")
        if self.viewport not in VIEWPORTS:
            raise AgentError(f"unknown viewport {self.viewport!r}; use one of "
                             f"{', '.join(VIEWPORTS)}")
        if self.drift not in ("none", "walk", "switch"):
            raise AgentError(f"unknown drift {self.drift!r}; use none, walk or switch")
        unknown = set(self.deviation) - set(FEATURES)
        if unknown:
            raise AgentError(f"unknown tile features {sorted(unknown)}; known: {FEATURES}")
        if not (0 < self.position_decay <= 1 and 0 <= self.patience <= 1
                and 0 <= self.noise <= 1):
            raise AgentError("position_decay must be in (0, 1], patience and noise in [0, 1]")
        self.reset()

    def reset(self) -> None:
        """Forget drift: back to the tastes the user was created with."""
        self.current_skill: Skill = self.skill
        self._deviation = {f: float(self.deviation.get(f, 0.0)) for f in FEATURES}
        self.sessions_done = 0

    # -- hidden preferences ------------------------------------------------------------------
    @property
    def tastes(self) -> dict[str, float]:
        """Current taste (logit) per tile feature: the skill level's plus this user's own."""
        base = SKILL_TASTES[self.current_skill]
        return {f: base[f] + self._deviation[f] for f in FEATURES}

    def appeal(self, tile: Tile) -> float:
        """Probability the user likes ``tile`` when looking at it, before noise."""
        taste = self.tastes.get(tile_feature(tile), 0.0)
        if tile.columns:
            taste += float(np.mean([self.column_tastes.get(c, 0.0) for c in tile.columns]))
        return _sigmoid(taste)

    def like_probability(self, tile: Tile) -> float:
        return (1.0 - self.noise) * self.appeal(tile) + self.noise / 2.0

    @property
    def decay(self) -> float:
        """Chance of moving on to the next slot after a liked tile (viewport-adjusted)."""
        return float(self.position_decay ** VIEWPORT_POWER[self.viewport])

    # -- expected values ---------------------------------------------------------------------
    def reach(self, tiles: Sequence[Tile]) -> np.ndarray:
        """Probability that each slot of ``tiles`` is looked at."""
        likes = np.array([self.like_probability(t) for t in tiles])
        go_on = self.decay * (likes + (1.0 - likes) * self.patience)
        return np.concatenate([[1.0], np.cumprod(go_on)[:-1]]) if len(tiles) else np.zeros(0)

    def engagement(self, layout: Layout | Sequence[Tile]) -> float:
        """Expected number of tiles liked in a session on ``layout`` (what regret counts)."""
        tiles = list(layout.tiles if isinstance(layout, Layout) else layout)
        likes = np.array([self.like_probability(t) for t in tiles])
        return float((self.reach(tiles) * likes).sum())

    def oracle_layout(self, tiles: Layout | Iterable[Tile], n_columns: int = 3) -> Layout:
        """The best arrangement of ``tiles`` for this user now: most liked first."""
        if isinstance(tiles, Layout):
            n_columns, tiles = tiles.n_columns, tiles.tiles
        ordered = sorted(tiles, key=lambda t: -self.like_probability(t))
        return Layout(ordered, n_columns)

    # -- a session ---------------------------------------------------------------------------
    def session(self, layout: Layout | Sequence[Tile], rng: np.random.Generator, *,
                dashboard: str = "sim", session: str | None = None) -> list[InteractionEvent]:
        """The events of one session on ``layout`` (then the user's tastes drift, if set)."""
        tiles = list(layout.tiles if isinstance(layout, Layout) else layout)
        session = session or f"{self.name}-s{self.sessions_done}"
        events: list[InteractionEvent] = []

        def emit(tile: Tile, kind: str, value: float = 1.0) -> None:
            events.append(InteractionEvent(self.name, session, dashboard, tile.id, kind,
                                           round(value, 3), feature=tile_feature(tile)))

        task_done = False
        for tile in tiles:
            liked = bool(rng.random() < self.like_probability(tile))
            if liked:
                emit(tile, "dwell", float(rng.lognormal(math.log(8.0), 0.5)))
                emit(tile, "click")
                if rng.random() < self.expand_rate:
                    emit(tile, "expand")
                if rng.random() < self.feedback_rate:
                    emit(tile, "thumbs_up")
                if not task_done and rng.random() < self.task_rate:
                    emit(tile, "task_done")
                    task_done = True
            else:
                emit(tile, "dwell", max(float(rng.lognormal(math.log(1.5), 0.5)), 0.25))
                if rng.random() < self.feedback_rate * 0.75:
                    emit(tile, "thumbs_down")
                elif rng.random() < self.dismiss_rate:
                    emit(tile, "dismiss")
            go_on = self.decay * (1.0 if liked else self.patience)
            if rng.random() >= go_on:
                break
        self.sessions_done += 1
        self._drift(rng)
        return events

    def _drift(self, rng: np.random.Generator) -> None:
        if self.drift == "walk":
            for f in FEATURES:
                self._deviation[f] += float(rng.normal(0.0, self.drift_scale))
        elif (self.drift == "switch" and self.sessions_done % self.switch_after == 0
              and self.current_skill != "expert"):
            self.current_skill = SKILLS[SKILLS.index(self.current_skill) + 1]
            logger.debug("simulated user %s is now %s", self.name, self.current_skill)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def draw(cls, rng: np.random.Generator, name: str = "sim", *, skill: Skill | None = None,
             columns: Iterable[str] = (), individuality: float = 0.8, column_sd: float = 0.5,
             skill_weights: Sequence[float] = (0.3, 0.5, 0.2), **params: Any) -> SimulatedUser:
        """A random user: a skill level, own taste offsets (std ``individuality``), interest in
        some columns (std ``column_sd``), a position decay and a viewport."""
        chosen: Skill = skill or SKILLS[int(rng.choice(len(SKILLS), p=np.array(skill_weights)
                                                      / np.sum(skill_weights)))]
        deviation = {f: float(rng.normal(0.0, individuality)) for f in FEATURES}
        column_tastes = {c: float(rng.normal(0.0, column_sd)) for c in columns}
        params.setdefault("position_decay", float(rng.uniform(0.7, 0.9)))
        params.setdefault("viewport", VIEWPORTS[int(rng.choice(3, p=[0.2, 0.5, 0.3]))])
        return cls(name=name, skill=chosen, deviation=deviation, column_tastes=column_tastes,
                   **params)


@dataclass
class Population:
    """``n_users`` simulated users drawn from ``seed`` (same seed, same users)."""

    n_users: int = 20
    seed: int = 0
    columns: tuple[str, ...] = ()
    individuality: float = 0.8
    column_sd: float = 0.5
    skill_weights: tuple[float, float, float] = (0.3, 0.5, 0.2)
    user_params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.n_users < 1:
            raise AgentError(f"a population needs at least one user, got n_users={self.n_users}")
        rng = np.random.default_rng(self.seed)
        self.users = [SimulatedUser.draw(rng, f"u{i:03d}", columns=self.columns,
                                         individuality=self.individuality,
                                         column_sd=self.column_sd,
                                         skill_weights=self.skill_weights, **self.user_params)
                      for i in range(self.n_users)]

    def __len__(self) -> int:
        return len(self.users)

    def __iter__(self) -> Iterator[SimulatedUser]:
        return iter(self.users)

    def sample(self, rng: np.random.Generator) -> SimulatedUser:
        """A user to run the next session (uniformly at random)."""
        return self.users[int(rng.integers(len(self.users)))]


def render_failures(tiles: Sequence[Tile], n_rows: int, fold: int) -> float:
    """Simulated system failures of a layout: how far the tiles above the fold (the first
    ``fold`` slots) overrun the render budget, in budgets (0 when within it)."""
    first_paint = sum(render_seconds(t, n_rows) for t in tiles[:fold])
    return max(0.0, first_paint - RENDER_BUDGET) / RENDER_BUDGET


def feedback_counts(events: Iterable[InteractionEvent], by: str = "feature",
                    into: dict[str, tuple[float, float]] | None = None
                    ) -> dict[str, tuple[float, float]]:
    """Successes and failures per tile feature (or per tile, ``by="tile"``), weighted as the
    design agent weighs them; added to ``into`` (updated in place) when given."""
    counts = into if into is not None else {}
    for e in events:
        key = e.feature if by == "feature" else e.tile
        ups, downs = counts.get(key, (0.0, 0.0))
        if e.kind in SUCCESS:
            counts[key] = (ups + SUCCESS[e.kind] * e.value, downs)
        elif e.kind in FAILURE:
            counts[key] = (ups, downs + FAILURE[e.kind] * e.value)
    return counts
