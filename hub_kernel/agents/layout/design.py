"""The Dashboard Design Agent: the order, size and chart type of a dashboard's tiles.

Each tile's value to a viewer is the prediction of the contextual learner every agent shares
(``agents.common.learner.TileLearner``, over the tile's attributes: kind, chart type, the kinds
and names of its columns, width, the data's profile, the viewer's skill and the viewer), plus,
when ``hub agents pretrain`` saved a policy, its fading opinion of the tile (``DesignContext
.prior``). A round picks, for every tile that is neither pinned nor locked, the chart type among
its candidates and the width (1 to 2 columns; an expanded tile keeps its width) with the best
value, and orders the tiles by that value: greedily with probability ``1 - epsilon`` (set by
the controller), else from one Thompson draw of the learner's weights. Pinned tiles keep their
slot, size and chart; locked ones may move but keep size and chart; tiles the viewer rejected
twice (thumbs down or dismiss) leave the grid. The propensity of the choice (the epsilon
mixture, its Thompson part by Monte Carlo over weight draws), the expected reward and the
runner-up go with the proposal, so the decision can be evaluated off-policy and explained.

``posteriors``/``propose`` (per-feature Beta posteriors) are the previous policy, kept for
``benchmarks/layout_agent.py`` until it becomes the joint benchmark.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hub_kernel.agents.common.bandits import Posterior, ranking_probability, thompson_draw
from hub_kernel.agents.common.events import EventStore, InteractionEvent
from hub_kernel.agents.common.learner import TileLearner, Viewer
from hub_kernel.layout import Layout, Tile
from hub_kernel.safety.governor import Proposal, diff

SUCCESS = {"thumbs_up": 1.0, "expand": 1.0, "pin": 1.0, "first": 1.0, "click": 0.5,
           "task_done": 1.0}
FAILURE = {"thumbs_down": 1.0, "dismiss": 1.0}


def tile_feature(tile: Tile) -> str:
    """What kind of tile this is, independent of the dataset (the unit of transfer)."""
    return f"{tile.kind}:{tile.chart_type}" if tile.chart_type else tile.kind


@dataclass
class DesignParams:
    """The policy's settings, versioned as ``policy/design`` in the version store."""

    prior_strength: float = 2.0      # pseudo-counts given to the population's view
    remove_after_downs: float = 2.0  # rejections after which a tile leaves the grid
    remove_below: float = 0.35       # ... if its posterior mean is also below this
    position_decay: float = 0.7      # attention paid to slot k relative to slot k-1
    mc_samples: int = 400            # Monte Carlo draws for the propensity of an order

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


@dataclass
class DesignContext:
    """What one round's decision is made from (``DesignAgent.decide``)."""

    layout: Layout
    events: list[InteractionEvent]  # this user's, on this dashboard
    learner: TileLearner = field(default_factory=TileLearner)
    viewer: Viewer = field(default_factory=Viewer)
    candidates: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # tile -> charts
    prior: Mapping[str, float] = field(default_factory=dict)  # tile -> pretrained offset
    epsilon: float = 0.0
    keep: frozenset[str] = frozenset()  # tiles that must stay (expanded this round)
    observation: Mapping[str, Any] = field(default_factory=dict)  # for the audit log
    # the exploring draw's seed (the controller's plan seed: a page opened again with nothing
    # learned since gets the same arrangement); None: the agent's own generator
    seed: int | None = None


@dataclass
class DesignAgent:
    """Proposes orderings of a dashboard's tiles from interaction feedback (an
    ``agents.common.agent.Agent``: decide, update, save, load)."""

    params: DesignParams = field(default_factory=DesignParams)
    name: str = "design"
    seed: int | None = None
    events: EventStore | None = None  # where feedback is kept (default ``$HUB_HOME/events.db``)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    # -- the agent contract ------------------------------------------------------------------
    def decide(self, context: DesignContext) -> Proposal:
        """One round: each free tile's best chart type and width, the tiles ordered by value
        (module docstring)."""
        layout, learner = context.layout, context.learner
        downs: dict[str, int] = defaultdict(int)
        for event in context.events:
            if event.kind in FAILURE and event.value > 0:
                downs[event.tile] += 1
        variants = {t.id: self._variants(t, context) for t in layout if not t.pinned}
        rows = [v for vs in variants.values() for v in vs]
        X = learner.vectors([context.viewer.attributes(v) for v in rows])
        offset = np.array([context.prior.get(v.id, 0.0) for v in rows])
        means = learner.mean(X) + offset if rows else np.zeros(0)
        sds = learner.sd(X) if rows else np.zeros(0)
        value = {(v.id, v.chart_type, v.width): (float(m), float(sd))
                 for v, m, sd in zip(rows, means, sds, strict=True)}

        def best(t: Tile) -> float:
            return max(value[(v.id, v.chart_type, v.width)][0] for v in variants[t.id])

        fixed = {slot: t for slot, t in enumerate(layout) if t.pinned}
        gone = [t for t in layout if not (t.pinned or t.locked or t.id in context.keep)
                and downs[t.id] >= self.params.remove_after_downs
                and best(t) < self.params.remove_below]
        if fixed and max(fixed) >= len(layout) - len(gone):
            gone = []  # removing would shift a pinned tile out of its slot: demote instead
        gone_ids = {t.id for t in gone}
        movable = [t.id for t in layout if not t.pinned and t.id not in gone_ids]
        spans = {tid: [i for i, v in enumerate(rows) if v.id == tid] for tid in movable}

        def arrange(scores: np.ndarray) -> list[Tile]:
            picked = {tid: max(idx, key=lambda i: scores[i]) for tid, idx in spans.items()}
            order = sorted(movable, key=lambda tid: -scores[picked[tid]])  # stable: ties stay
            return [rows[picked[tid]] for tid in order]

        greedy = arrange(means)
        rng = self._rng if context.seed is None else np.random.default_rng(context.seed)
        explore = bool(rng.random() < context.epsilon) and bool(rows)
        chosen = arrange(learner.draw(X, rng)[0] + offset) if explore else greedy
        samples = self.params.mc_samples
        if rows and context.epsilon > 0:
            draws = learner.draw(X, np.random.default_rng(0), size=samples) + offset
            arranged = [arrange(d) for d in draws]
            ts = max(sum(a == chosen for a in arranged) / samples, 1 / samples)
            alternative = next((a for a in arranged if a != chosen), greedy)
        else:
            ts, alternative = float(chosen == greedy), greedy
            if len(greedy) > 1:
                alternative = [*greedy[1:2], greedy[0], *greedy[2:]]
        if explore:
            alternative = greedy
        propensity = (1 - context.epsilon) * (chosen == greedy) + context.epsilon * ts
        size = len(layout) - len(gone)
        tiles = self._merge(fixed, chosen, size)
        runner = self._merge(fixed, alternative, size)
        target = Layout(tiles, layout.n_columns)
        jumped = {c.tile for c in diff(layout, target) if c.kind == "move"}
        thumbs = defaultdict(int, {t: sum(e.tile == t and e.kind == "thumbs_down"
                                          for e in context.events) for t in gone_ids})
        parts = [f"removed {t.title!r} ({thumbs[t.id]} thumbs down, "
                 f"{downs[t.id] - thumbs[t.id]} dismissed; expected {best(t):.2f})"
                 for t in gone]
        for tile in tiles:
            before = layout[tile.id]
            m, sd = value.get((tile.id, tile.chart_type, tile.width), (0.5, 0.0))
            if tile.chart_type != before.chart_type:
                old = value.get((tile.id, before.chart_type, tile.width), (math.nan, 0))[0]
                parts.append(f"{tile.title!r} as a {tile.chart_type} instead of a "
                             f"{before.chart_type} (expected {m:.2f} against {old:.2f})")
            if tile.width != before.width:
                old = value.get((tile.id, tile.chart_type, before.width), (math.nan, 0))[0]
                parts.append(f"{tile.title!r} {tile.width} column{'s' * (tile.width > 1)} "
                             f"wide instead of {before.width} (expected {m:.2f} against "
                             f"{old:.2f})")
            if tile.id in jumped:
                parts.append(f"{tile.title!r} to slot {tiles.index(tile) + 1} "
                             f"(expected {m:.2f} ± {sd:.2f})")
        how = "exploring (Thompson sample)" if explore else "best known arrangement"
        explanation = (f"{how}: " + "; ".join(parts[:6])) if parts else f"{how}: no change"
        expected = {t.id: value.get((t.id, t.chart_type, t.width), (0.5, 0.0))[0]
                    for t in layout if not t.pinned}
        drivers = {f"expected:{t.id}": round(expected.get(t.id, 0.5) - 0.5, 3)
                   for t in [*tiles, *gone] if t.id in jumped or t.id in gone_ids}
        observation = {**context.observation,
                       "expected": {k: round(v, 3) for k, v in expected.items()},
                       "learner_n": round(learner.n, 2)}
        return Proposal(
            agent=self.name, layout=target.to_dict(), explanation=explanation,
            propensity=float(min(max(propensity, 1 / samples), 1.0)),
            expected_reward=self._expected_value(tiles, value),
            runner_up=" > ".join(t.id for t in runner[:3]) + (" ..." if len(runner) > 3 else ""),
            runner_up_reward=self._expected_value(runner, value), drivers=drivers,
            observation=observation,
        )

    def _variants(self, tile: Tile, context: DesignContext) -> list[Tile]:
        """The chart types and widths ``tile`` may take (itself first)."""
        if tile.locked:
            return [tile]
        charts = context.candidates.get(tile.id) or (tile.chart_type,)
        widths = [tile.width] if tile.id in context.keep else list(
            range(1, min(2, context.layout.n_columns) + 1))
        out = [tile]
        for chart in charts:
            for width in widths:
                variant = tile.model_copy(update={"chart_type": chart, "width": width})
                if variant != tile:
                    out.append(variant)
        return out

    def _expected_value(self, tiles: list[Tile],
                        value: Mapping[tuple[Any, ...], tuple[float, float]]) -> float:
        """Position-weighted expected reward of an arrangement."""
        if not tiles:
            return 0.0
        weights = self.params.position_decay ** np.arange(len(tiles))
        means = np.array([value.get((t.id, t.chart_type, t.width), (0.5, 0.0))[0]
                          for t in tiles])
        return float((weights * means).sum() / weights.sum())

    def update(self, feedback: Iterable[InteractionEvent]) -> None:
        """Keep interaction events in the event store the next rounds read."""
        if self.events is None:
            self.events = EventStore()
        self.events.add(feedback)

    def save(self) -> dict[str, Any]:
        """The policy's settings (``DesignParams``), as the version store keeps them."""
        return dict(self.params.to_dict())

    @classmethod
    def load(cls, state: Mapping[str, Any], **kwargs: Any) -> DesignAgent:
        """A design agent with the settings ``save`` returned."""
        return cls(params=DesignParams(**state), **kwargs)

    # -- learning ----------------------------------------------------------------------------
    def posteriors(self, layout: Layout, mine: Iterable[InteractionEvent],
                   population: Mapping[str, tuple[float, float]] | None = None
                   ) -> dict[str, Posterior]:
        """Per-tile posteriors: the population's feature rates as prior, then my events."""
        population = population or {}
        result: dict[str, Posterior] = {}
        for tile in layout:
            ups, downs = population.get(tile_feature(tile), (0.0, 0.0))
            ups, downs = max(ups, 0.0), max(downs, 0.0)  # stored events are never negative
            total = ups + downs
            strength = self.params.prior_strength
            share = (ups + 1) / (total + 2)
            result[tile.id] = Posterior(1 + strength * share, 1 + strength * (1 - share))
        for event in mine:
            post = result.get(event.tile)
            if post is None or not event.value > 0:  # also drops NaN
                continue
            if event.kind in SUCCESS:
                post.alpha += SUCCESS[event.kind] * event.value
                post.n_up += event.kind == "thumbs_up"
            elif event.kind in FAILURE:
                post.beta += FAILURE[event.kind] * event.value
                post.n_down += 1
        return result

    @staticmethod
    def population_rates(events: Iterable[InteractionEvent]) -> dict[str, tuple[float, float]]:
        """Successes and failures per tile feature, over everyone's events."""
        rates: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for event in events:
            if not event.feature or not event.value > 0:
                continue
            if event.kind in SUCCESS:
                rates[event.feature][0] += SUCCESS[event.kind] * event.value
            elif event.kind in FAILURE:
                rates[event.feature][1] += FAILURE[event.kind] * event.value
        return {k: (v[0], v[1]) for k, v in rates.items()}

    # -- acting ------------------------------------------------------------------------------
    def propose(self, layout: Layout, posts: Mapping[str, Posterior], *, epsilon: float,
                keep: Iterable[str] = (), observation: Any = None) -> Proposal:
        """The next layout: pinned tiles stay, the rest ordered by appeal, rejects removed."""
        keep = set(keep)
        fixed = {slot: t for slot, t in enumerate(layout) if t.pinned}
        removable = [t for t in layout if not (t.pinned or t.locked or t.id in keep)]
        gone = [t for t in removable
                if posts[t.id].n_down >= self.params.remove_after_downs
                and posts[t.id].mean < self.params.remove_below]
        if fixed and max(fixed) >= len(layout) - len(gone):
            gone = []  # removing would shift a pinned tile out of its slot: demote instead
        movable = [t for t in layout if not t.pinned and t not in gone]
        greedy = self._order(movable, {t.id: posts[t.id].mean for t in movable})
        explore = bool(self._rng.random() < epsilon)
        chosen = self._order(movable, self._sample(movable, posts)) if explore else greedy
        propensity = (1 - epsilon) * (chosen == greedy) + epsilon * self._ts_probability(
            movable, posts, chosen)
        if chosen == greedy:
            alternative = self._order(movable, self._sample(movable, posts))
            if alternative == greedy and len(greedy) > 1:
                alternative = [*greedy[1:2], greedy[0], *greedy[2:]]
        else:
            alternative = greedy
        tiles = self._merge(fixed, chosen, len(layout) - len(gone))
        runner = self._merge(fixed, alternative, len(layout) - len(gone))
        target = Layout(tiles, layout.n_columns)
        jumped = {c.tile for c in diff(layout, target) if c.kind == "move"}
        moved = [t for t in tiles if t.id in jumped]
        parts = []
        for tile in moved[:3]:
            p = posts[tile.id]
            parts.append(f"{tile.title!r} to slot {tiles.index(tile) + 1} "
                         f"({p.n_up:.0f} up, {p.n_down:.0f} down, appeal {p.mean:.2f})")
        parts += [f"removed {t.title!r} ({posts[t.id].n_down:.0f} thumbs down)" for t in gone]
        how = "exploring (Thompson sample)" if explore else "best known order"
        explanation = (f"{how}: " + "; ".join(parts)) if parts else f"{how}: no change"
        drivers = {f"appeal:{t.id}": round(posts[t.id].mean - 0.5, 3) for t in [*moved, *gone]}
        return Proposal(
            agent=self.name, layout=target.to_dict(), explanation=explanation,
            propensity=float(propensity), expected_reward=self.expected(tiles, posts),
            runner_up=" > ".join(t.id for t in runner[:3]) + (" ..." if len(runner) > 3 else ""),
            runner_up_reward=self.expected(runner, posts), drivers=drivers,
            observation=observation,
        )

    def expected(self, tiles: list[Tile], posts: Mapping[str, Posterior]) -> float:
        """Position-weighted appeal of an arrangement (what a round is expected to earn)."""
        weights = self.params.position_decay ** np.arange(len(tiles))
        means = np.array([posts[t.id].mean for t in tiles])
        return float((weights * means).sum() / weights.sum()) if len(tiles) else 0.0

    # -- internals ---------------------------------------------------------------------------
    @staticmethod
    def _order(tiles: list[Tile], score: Mapping[str, float]) -> list[Tile]:
        # stable: ties keep the current order, so an agent without evidence changes nothing
        return sorted(tiles, key=lambda t: -score[t.id])

    def _sample(self, tiles: list[Tile], posts: Mapping[str, Posterior]) -> dict[str, float]:
        draws = thompson_draw([posts[t.id] for t in tiles], self._rng)
        return {t.id: d for t, d in zip(tiles, draws, strict=True)}

    def _ts_probability(self, tiles: list[Tile], posts: Mapping[str, Posterior],
                        chosen: list[Tile]) -> float:
        """How often a Thompson sample gives ``chosen`` (Monte Carlo)."""
        index = {t.id: i for i, t in enumerate(tiles)}
        return ranking_probability([posts[t.id] for t in tiles], [index[t.id] for t in chosen],
                                   self.params.mc_samples)

    @staticmethod
    def _merge(fixed: Mapping[int, Tile], order: list[Tile], size: int) -> list[Tile]:
        rest = iter(order)
        return [fixed[slot] if slot in fixed else next(rest) for slot in range(size)]
