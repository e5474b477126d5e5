"""The Meta-Learning Controller: coordinates the agents and owns what they share.

It owns the reward (the product's weighted terms, weights from settings), the exploration budget
(per autonomy mode, halving every ``exploration_halflife`` interactions of a user as confidence
grows), transfer between datasets (the population prior of the design agent pools the events of
dashboards with similar profiles, weighted by similarity), and consistency (a layout only shows
tiles whose columns exist in the data). Agents talk to it over an ``EventBus``; every change
they want goes through a ``LayoutGovernor`` (modes, vetoes, pins, audit, undo).

``DashboardSession`` is one person's view of one dashboard: interactions come in, and after
``relayout_every`` of them (or on request) the design agent proposes the next arrangement.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hub_kernel.agents.common.events import EventStore, InteractionEvent
from hub_kernel.agents.common.reward import reward_terms, weighted_reward
from hub_kernel.agents.layout.design import DesignAgent, DesignContext, DesignParams, tile_feature
from hub_kernel.agents.plan import (
    Plan,
    PlannedTile,
    analysis_tile,
    cheap_tiles,
    model_tile,
    tile_chart_candidates,
)
from hub_kernel.core.bus import EventBus, default_bus
from hub_kernel.core.config import get_settings
from hub_kernel.data.profile import profile_features, similarity
from hub_kernel.exceptions import HubError
from hub_kernel.layout import Layout
from hub_kernel.safety.audit import log_decision
from hub_kernel.safety.governor import Decision, LayoutGovernor
from hub_kernel.safety.guard import FailureLog, guarded
from hub_kernel.safety.modes import Controls
from hub_kernel.safety.store import connect
from hub_kernel.safety.versions import VersionStore

logger = logging.getLogger("hub_kernel")

PASSIVE = ("dwell", "click", "render", "compute")
# how much people of another stated skill level count in a user's prior (benchmarks/
# layout_agent.py: 0 beat 0.1, 0.3 and 1 on all five seeds)
OTHER_SKILL_WEIGHT = 0.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS profiles (dashboard TEXT PRIMARY KEY, features TEXT NOT NULL);
"""


def consistent(layout: Layout, profile: Any) -> Layout:
    """``layout`` without tiles about columns the data does not have (pins included: a tile
    that cannot be drawn helps nobody)."""
    names = {c.name for c in profile.columns}
    return Layout([t for t in layout if set(t.columns) <= names], layout.n_columns)


@dataclass
class MetaController:
    """Coordinates the design agent, the event store and the safety layer."""

    bus: EventBus = field(default_factory=default_bus)
    events: EventStore | None = None
    agent: DesignAgent = field(default_factory=DesignAgent)
    path: str | os.PathLike[str] | None = None  # safety.db (tests)

    def __post_init__(self) -> None:
        self._pretrained: Any = None  # loaded on first use: it imports torch
        self.events = self.events or self.agent.events or EventStore()
        self.agent.events = self.events  # the agent's feedback is what the controller pools
        self.controls = Controls(self.path)
        self.versions = VersionStore(self.path)
        self.failures = FailureLog(self.path)

    # -- shared quantities -------------------------------------------------------------------
    @staticmethod
    def reward(terms: Mapping[str, float]) -> float:
        """The product's reward (``agents.common.reward.weighted_reward``)."""
        return weighted_reward(terms)

    def exploration(self, user: str, mode: str) -> float:
        """This user's exploration rate: the mode's budget, halving as their history grows."""
        settings = get_settings()
        base = settings.exploration.get(mode, 0.0)
        assert self.events is not None
        seen = self.events.count(user=user)
        return float(base * 0.5 ** (seen / settings.exploration_halflife))

    def remember_profile(self, dashboard: str, profile: Any) -> None:
        features = json.dumps(profile_features(profile).tolist())
        with connect(self.path, _SCHEMA) as db:
            db.execute("INSERT OR REPLACE INTO profiles VALUES (?, ?)", (dashboard, features))

    def similar_dashboards(self, profile: Any) -> dict[str, float]:
        """Every known dashboard with the similarity of its data to ``profile``."""
        mine = profile_features(profile)
        with connect(self.path, _SCHEMA) as db:
            rows = db.execute("SELECT * FROM profiles").fetchall()
        return {r["dashboard"]: similarity(mine, np.array(json.loads(r["features"])))
                for r in rows}

    def population(self, dashboard: str, profile: Any | None, *,
                   exclude_user: str | None = None) -> dict[str, tuple[float, float]]:
        """Successes/failures per tile feature over everyone else, similar datasets weighted
        in (a user's own events count once, in their posterior, not again in the prior). A
        user who stated a skill level starts from people of the same level only: what
        novices and experts want differs more than what two novices want."""
        assert self.events is not None
        weights = self.similar_dashboards(profile) if profile is not None else {}
        weights[dashboard] = 1.0
        skills = self.events.skills()
        mine = skills.get(exclude_user or "")
        pooled: dict[str, list[float]] = {}
        for name, weight in weights.items():
            if weight < 0.5:
                continue
            by_user: dict[str, list[InteractionEvent]] = {}
            for e in self.events.events(dashboard=name):
                if e.user != exclude_user:
                    by_user.setdefault(e.user, []).append(e)
            for user, events in by_user.items():
                alike = mine is None or skills.get(user) == mine
                share = weight * (1.0 if alike else OTHER_SKILL_WEIGHT)
                if share <= 0:
                    continue
                for feature, (ups, downs) in self.agent.population_rates(events).items():
                    acc = pooled.setdefault(feature, [0.0, 0.0])
                    acc[0] += share * ups
                    acc[1] += share * downs
        return {k: (v[0], v[1]) for k, v in pooled.items()}

    def policy_for(self, session: str) -> tuple[int, DesignParams]:
        """The design policy version this session gets (a rollout may give it the candidate)
        and its settings. The agent's own settings are stored as version 1 on first use."""
        from hub_kernel.safety.rollout import Rollout

        name = self.agent.name
        if self.versions.latest("policy", name) is None:
            self.versions.save("policy", name, self.agent.save(), author="default",
                               reason="the design agent's built-in settings")
        version = Rollout(name, path=self.path).assign(session)
        payload = self.versions.get("policy", name, version).payload
        return version, DesignParams(**payload)

    def user_group(self, user: str) -> str:
        """The group a user's rewards are compared in: ``new`` users (fewer interactions than
        the exploration half-life, so explored on most) or ``returning`` ones."""
        assert self.events is not None
        seen = self.events.count(user=user)
        return "new" if seen < get_settings().exploration_halflife else "returning"

    def record_reward(self, session: DashboardSession, reward: float,
                      explored: bool | None = None) -> None:
        """Keep a round's reward: for a running rollout of the design policy, and for reward
        parity between user groups."""
        from hub_kernel.safety.rollout import Rollout

        assert self.events is not None
        try:
            Rollout(self.agent.name, path=self.path).record(session.session, reward,
                                                            version=session.policy_version)
            self.events.add_reward(user=session.user, session=session.session,
                                   dashboard=session.dashboard, group=session.group,
                                   reward=reward, explored=explored)
        except HubError as exc:  # the reward is lost for these, the dashboard goes on
            logger.warning("could not record the round's reward: %s", exc)

    def parity(self, *, audit: bool = False) -> Any:
        """Mean reward per user group, and the groups exploration starves (a
        ``hub_kernel.safety.parity.RewardParityReport``); ``audit`` records a flagged
        group in the audit log."""
        from hub_kernel.safety.parity import RewardParity

        assert self.events is not None
        monitor = RewardParity(agent=self.agent.name)
        for group, reward, explored in self.events.rewards():
            monitor.record(group, reward, explored=explored)
        return monitor.check() if audit else monitor.report()

    def pretrained_prior(self, layout: Layout, user: str,
                         mine: list[InteractionEvent], profile: Any | None
                         ) -> dict[str, tuple[float, float]]:
        """Cold-start pseudo-counts from the policy ``hub agents pretrain`` saved under
        HUB_HOME/agents, when ``HUB_USE_PRETRAINED_PRIOR`` (none saved or off: nothing).
        Loaded once, on first use."""
        from hub_kernel.agents.layout.pretrain import MODEL_FILE, PretrainedPrior, agents_dir

        if not get_settings().use_pretrained_prior:
            return {}
        if self._pretrained is None:
            if not (agents_dir() / MODEL_FILE).exists():
                return {}
            self._pretrained = PretrainedPrior.load()
        sessions = len({e.session for e in mine})
        counts: dict[str, tuple[float, float]] = self._pretrained.population(
            layout, profile=profile, events=mine, sessions=sessions)
        return counts

    def plan(self, profile: Any, *, user: str, dashboard: str, target: str | None = None,
             n_columns: int = 3) -> Plan:
        """What the agents would show ``user`` now for data with ``profile``: the strategy
        agent picks the analyses (each decision audited with its propensity), the cheap
        tiles and the model tile (with a target) join them."""
        from hub_kernel.agents.strategy.agent import StrategyAgent

        strategy = StrategyAgent(mode=Controls(self.path).mode(user=user, dashboard=dashboard))
        choices = strategy.choose_analyses(profile, target)
        tiles = {t.id: PlannedTile(t, "default", "drawn from the profile")
                 for t in cheap_tiles(profile, n_columns)}
        for choice in choices:
            if choice.show:
                tile = analysis_tile(choice.name, choice.title, n_columns)
                tiles[tile.id] = PlannedTile(tile, "strategy", choice.explanation,
                                             propensity=choice.propensity,
                                             expected=choice.value)
        if target is not None:
            tile = model_tile(target, n_columns)
            tiles[tile.id] = PlannedTile(tile, "strategy", f"a target ({target}) was given")
        for planned in tiles.values():
            candidates = tile_chart_candidates(planned.tile, profile)
            if candidates:
                tiles[planned.tile.id] = dataclasses.replace(planned,
                                                             chart_candidates=candidates)
        layout = Layout([p.tile for p in tiles.values()], n_columns)
        return Plan(dashboard, user, target, layout, tiles,
                    skipped=[c.name for c in choices if c.applies and not c.show])

    def open(self, layout: Layout, *, user: str, dashboard: str, profile: Any | None = None,
             session: str | None = None) -> DashboardSession:
        """Start one person's session on a dashboard (its layout already chosen)."""
        if profile is not None:
            self.remember_profile(dashboard, profile)
            self.bus.publish("profile_ready", dashboard=dashboard, n_rows=profile.n_rows,
                             n_columns=profile.n_columns)
        self.bus.publish("layout_applied", user=user, dashboard=dashboard,
                         layout=layout.to_dict(), reason="opened")
        return DashboardSession(self, layout, user=user, dashboard=dashboard, profile=profile,
                                session=session or uuid.uuid4().hex[:12])

    def starting_layout(self, default: Layout, *, user: str, dashboard: str,
                        profile: Any) -> Layout:
        """The layout this user had last time on this dashboard, if it still fits the data;
        else ``default``."""
        from hub_kernel.safety.governor import layout_key

        latest = self.versions.latest("layout", layout_key(user, dashboard))
        if latest is None:
            return default
        try:
            stored = Layout.from_dict(latest.payload)
        except Exception:
            return default
        fitted = consistent(stored, profile)
        return fitted if len(fitted) else default


class DashboardSession:
    """One person's session on one dashboard: feedback in, re-arrangements out."""

    def __init__(self, controller: MetaController, layout: Layout, *, user: str,
                 dashboard: str, session: str, profile: Any | None = None) -> None:
        self.controller = controller
        self.layout = layout
        self.user, self.dashboard, self.session = user, dashboard, session
        self.profile = profile
        self.governor = LayoutGovernor(layout, user=user, dashboard=dashboard,
                                       controls=controller.controls,
                                       versions=controller.versions, path=controller.path)
        self.group = controller.user_group(user)
        self.policy_version, params = controller.policy_for(session)
        self.agent = dataclasses.replace(controller.agent, params=params)
        self.expanded: set[str] = set()
        self.since_round = 0
        self.last: Decision | None = None
        self.rounds = 0
        self.failed = False  # the last round's agent raised (the layout stayed)
        self._round_events: list[InteractionEvent] = []

    @property
    def mode(self) -> str:
        return self.governor.mode

    def interact(self, tile_id: str, kind: str, value: float = 1.0) -> Decision | None:
        """Record an interaction; after ``relayout_every`` deliberate ones (not dwell time or
        clicks), run a round."""
        feature = tile_feature(self.layout[tile_id]) if tile_id in self.layout else ""
        event = InteractionEvent(self.user, self.session, self.dashboard, tile_id, kind, value,
                                 feature=feature)
        self.agent.update([event])
        self._round_events.append(event)
        if kind == "expand":
            self.expanded.add(tile_id)
        self.controller.bus.publish("interaction", user=self.user, dashboard=self.dashboard,
                                    tile=tile_id, kind=kind, value=value)
        if kind in PASSIVE:  # measured, not a request: never what triggers a re-arrangement
            return None
        self.since_round += 1
        if self.since_round >= get_settings().relayout_every:
            return self.relayout()
        return None

    def round_terms(self) -> dict[str, float]:
        """This round's reward terms, from its events (docs/reward.md)."""
        return reward_terms(self._round_events, len(self.layout),
                            failures=len(self.controller.failures.recent()))

    def relayout(self) -> Decision | None:
        """One round: the agent proposes, the governor decides. ``None``: the agent failed
        and the layout stayed as it was."""
        controller = self.controller
        mode = self.mode
        if self.last is not None:  # score the round that followed the last decision
            terms = self.round_terms()
            reward = controller.reward(terms)
            controller.record_reward(self, reward, self.last.explanation.startswith("exploring"))
            if self.last.audit_id is not None:
                log_decision(agent=self.agent.name, mode=mode, ref=self.last.audit_id,
                             action="outcome", outcome_reward=reward,
                             explanation=f"reward {reward:.3f} for the round after this "
                                         "decision: " + ", ".join(f"{k} {v:.2f}"
                                                                   for k, v in terms.items()))

        def step() -> Decision:
            assert controller.events is not None
            mine = controller.events.events(user=self.user, dashboard=self.dashboard)
            population = controller.population(self.dashboard, self.profile,
                                               exclude_user=self.user)
            for feature, (ups, downs) in controller.pretrained_prior(
                    self.layout, self.user, mine, self.profile).items():
                have = population.get(feature, (0.0, 0.0))
                population[feature] = (have[0] + ups, have[1] + downs)
            epsilon = controller.exploration(self.user, mode)
            proposal = self.agent.decide(DesignContext(
                self.layout, mine, population, epsilon=epsilon, keep=frozenset(self.expanded),
                observation={"dashboard": self.dashboard, "user": self.user,
                             "policy_version": self.policy_version,
                             "n_events": len(mine), "epsilon": round(epsilon, 4)}))
            return self.governor.submit(proposal, keep=self.expanded)

        decision = guarded(self.agent.name, self.governor.key, step,
                           failures=controller.failures)
        self.since_round = 0
        self.rounds += 1
        self.failed = decision is None
        self.expanded.clear()
        self._round_events = []
        if decision is None:
            controller.bus.publish("agent_failed", user=self.user, dashboard=self.dashboard,
                                   agent=self.agent.name)
            return None
        self.last = decision
        topic = "layout_applied" if decision.status == "applied" else "layout_proposed"
        controller.bus.publish(topic, user=self.user, dashboard=self.dashboard,
                               status=decision.status, explanation=decision.explanation)
        return decision
