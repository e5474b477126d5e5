"""The Dashboard Design Agent's online learner: a Bayesian bandit over tiles.

Each tile's appeal to a user is a Beta posterior built from that user's interaction events
(thumbs up, expand, pin and "move first" count as successes; thumbs down and dismiss as failures;
clicks as half a success), started from a prior that pools what other users did with tiles of
the same feature (``chart:histogram``, ``overview``...), so a new user or a new dataset starts
from the population. A round orders the unpinned tiles by posterior mean (exploiting) or by a
Thompson sample (exploring, with probability ``epsilon`` set by the controller), sends
tiles a user rejected twice away, and reports the propensity of its choice, the expected reward
and the runner-up so the decision can be evaluated off-policy and explained.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hub_kernel.agents.common.bandits import Posterior, ranking_probability, thompson_draw
from hub_kernel.agents.common.events import EventStore, InteractionEvent
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
    population: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    epsilon: float = 0.0
    keep: frozenset[str] = frozenset()  # tiles that must stay (expanded this round)
    observation: Mapping[str, Any] = field(default_factory=dict)  # for the audit log


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
        """One round: posteriors from the context's evidence, then ``propose``; the
        observation logged gets the tiles' appeal."""
        posts = self.posteriors(context.layout, context.events, context.population)
        observation = {**context.observation,
                       "appeal": {k: round(p.mean, 3) for k, p in posts.items()}}
        return self.propose(context.layout, posts, epsilon=context.epsilon, keep=context.keep,
                            observation=observation)

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
