"""The Meta-Learning Controller: coordinates the agents and owns what they share.

It owns the reward (the product's weighted terms, weights from settings), the exploration budget
(per autonomy mode, halving every ``exploration_halflife`` *deliberate* interactions of a user:
dwell, clicks, render and compute times do not count), the one contextual learner every agent
reads (``agents.common.learner``, stored in ``events.db``: transfer between columns, datasets
and people goes through the tiles' attributes, the data's ``profile_features`` among them), and
consistency (a layout only shows tiles whose columns exist in the data). ``plan`` asks the
strategy agent which analysis tiles to show and the design agent how to arrange everything;
every change of a live dashboard goes through a ``LayoutGovernor`` (modes, vetoes, pins, audit,
undo).

``DashboardSession`` is one person's view of one dashboard. Its interactions are published on
the controller's bus; the controller's subscriber stores them and teaches the learner (the
per-tile reward of deliberate feedback at once; at the end of a round, a small update for the
tiles looked at or passed by). After ``relayout_every`` deliberate interactions (or on request)
the design agent proposes the next arrangement.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hub_kernel.agents.common.events import (
    DELIBERATE_KINDS,
    EventStore,
    InteractionEvent,
)
from hub_kernel.agents.common.learner import LearnerStore, TileLearner, Viewer
from hub_kernel.agents.common.reward import (
    weighted_reward,
)
from hub_kernel.agents.layout.design import FAILURE, DesignAgent, DesignContext, DesignParams
from hub_kernel.agents.plan import (
    Plan,
    PlannedTile,
    cheap_tiles,
    live_tile,
    model_tile,
    rejected_twice,
    target_choices,
    tile_chart_candidates,
)
from hub_kernel.agents.session import DashboardSession
from hub_kernel.core.bus import Event, EventBus
from hub_kernel.core.config import get_settings
from hub_kernel.exceptions import HubError
from hub_kernel.layout import Layout, Tile
from hub_kernel.safety.audit import log_decision
from hub_kernel.safety.governor import layout_key
from hub_kernel.safety.guard import FailureLog, guarded
from hub_kernel.safety.modes import Controls
from hub_kernel.safety.versions import VersionStore

logger = logging.getLogger("hub_kernel")

LEARNER = "tiles"  # the name of the shared learner in the learner store
# pseudo-interactions the pre-trained policy's opinion of a tile is worth (it fades after)
PRETRAINED_STRENGTH = 10.0
COMPUTE_BUDGET_SECONDS = 30.0


def pinned_ids(layout: Layout) -> set[str]:
    """Ids of the tiles a person pinned or locked (never dropped by an agent)."""
    return {t.id for t in layout if t.pinned or t.locked}


def consistent(layout: Layout, profile: Any) -> Layout:
    """``layout`` without tiles about columns the data does not have (pins included: a tile
    that cannot be drawn helps nobody)."""
    names = {c.name for c in profile.columns}
    return Layout([t for t in layout if set(t.columns) <= names], layout.n_columns)


def held_back_layout(layout: Layout, held_back: list[tuple[Tile, str]]
                     ) -> tuple[Layout | None, str]:
    """``layout`` with the analysis changes the mode held back (``(tile, "show"|"skip")``):
    the strategy agent's proposal for a person to approve, and its explanation."""
    shows = [t for t, what in held_back if what == "show" and t.id not in layout]
    skips = {t.id for t, what in held_back if what == "skip" and t.id in layout}
    if not shows and not skips:
        return None, ""
    tiles = [t for t in layout if t.id not in skips] + shows
    parts = ([f"show {', '.join(t.title for t in shows)}"] if shows else []) + (
        [f"take away {', '.join(layout[i].title for i in sorted(skips))}"] if skips else [])
    return (Layout(tiles, layout.n_columns),
            "the analysis strategy agent would " + " and ".join(parts))


@dataclass
class MetaController:
    """Coordinates the strategy and design agents, the event store, the shared learner and
    the safety layer."""

    bus: EventBus = field(default_factory=EventBus)
    events: EventStore | None = None
    agent: DesignAgent = field(default_factory=DesignAgent)
    path: str | os.PathLike[str] | None = None  # safety.db (tests)

    def __post_init__(self) -> None:
        self._pretrained: Any = None  # loaded on first use: it imports torch
        self.events = self.events or self.agent.events or EventStore()
        self.agent.events = self.events
        self.learners = LearnerStore(self.events.path)
        self.controls = Controls(self.path)
        self.versions = VersionStore(self.path)
        self.failures = FailureLog(self.path)
        # the feedback routing is the bus's subscriber: what a page reports reaches the
        # event store and the learner the strategy and design agents read
        self.bus.subscribe("interaction", self._on_interaction)

    # -- shared quantities -------------------------------------------------------------------
    @staticmethod
    def reward(terms: Mapping[str, float]) -> float:
        """The product's reward (``agents.common.reward.weighted_reward``)."""
        return weighted_reward(terms)

    def exploration(self, user: str, mode: str) -> float:
        """This user's exploration rate: the mode's budget, halving with every
        ``exploration_halflife`` deliberate interactions they had (not dwell or clicks)."""
        settings = get_settings()
        base = settings.exploration.get(mode, 0.0)
        assert self.events is not None
        seen = self.events.deliberate_count(user=user)
        return float(base * 0.5 ** (seen / settings.exploration_halflife))

    def user_group(self, user: str) -> str:
        """The group a user's rewards are compared in: ``new`` users (fewer deliberate
        interactions than the exploration half-life, so explored on most) or ``returning``."""
        assert self.events is not None
        seen = self.events.deliberate_count(user=user)
        return "new" if seen < get_settings().exploration_halflife else "returning"

    def learner(self) -> TileLearner:
        """The shared contextual learner, as stored now."""
        return self.learners.load(LEARNER)

    def viewer(self, user: str, profile: Any | None) -> Viewer:
        assert self.events is not None
        return Viewer.of(profile, user, self.events.skills().get(user))

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

    def record_reward(self, session: DashboardSession, reward: float,
                      explored: bool | None = None,
                      terms: Mapping[str, float] | None = None) -> None:
        """Keep a round's reward and terms: for a running rollout of the design policy, and
        for reward parity between user groups."""
        from hub_kernel.safety.rollout import Rollout

        assert self.events is not None
        try:
            Rollout(self.agent.name, path=self.path).record(session.session, reward,
                                                            version=session.policy_version)
            self.events.add_reward(user=session.user, session=session.session,
                                   dashboard=session.dashboard, group=session.group,
                                   reward=reward, explored=explored, terms=dict(terms or {}))
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

    def pretrained_prior(self, layout: Layout, user: str, mine: list[InteractionEvent],
                         profile: Any | None) -> dict[str, float]:
        """Per tile id, the policy ``hub agents pretrain`` saved (under HUB_HOME/agents, when
        ``HUB_USE_PRETRAINED_PRIOR``) as an offset on the learner's prediction: its
        probability of placing the tile over uniform, minus one half, fading as the user's
        deliberate interactions grow (none saved or off: nothing)."""
        from hub_kernel.agents.layout.pretrain import MODEL_FILE, agents_dir, load_pretrained

        if not get_settings().use_pretrained_prior or not len(layout):
            return {}
        if self._pretrained is None:
            if not (agents_dir() / MODEL_FILE).exists():
                return {}
            self._pretrained = load_pretrained()
        sessions = len({e.session for e in mine})
        scores = self._pretrained.scores(list(layout), profile=profile, events=mine,
                                         sessions=sessions)
        deliberate = sum(e.kind in DELIBERATE_KINDS for e in mine)
        fade = PRETRAINED_STRENGTH / (PRETRAINED_STRENGTH + deliberate)
        return {t.id: fade * (1 / (1 + math.exp(-s)) - 0.5)
                for t, s in zip(layout, scores, strict=True)}

    # -- planning ----------------------------------------------------------------------------
    def plan(self, profile: Any, *, user: str, dashboard: str, target: str | None = None,
             n_columns: int = 3, budget_seconds: float = COMPUTE_BUDGET_SECONDS,
             seed: int | None = None, streams: tuple[str, ...] = ()) -> Plan:
        """What the agents would show ``user`` now for data with ``profile``: the strategy
        agent picks the analysis tiles (each decision audited with its propensity) within a
        compute budget, the cheap tiles and the model tile (with a target) join them, and the
        design agent arranges them (order, size, chart type) from the shared learner. A
        returning user starts from their stored layout where it still fits; analysis tiles
        they rejected twice are gone. ``streams`` (names of live streams the dashboard
        follows) get a live tile each."""
        from hub_kernel.agents.strategy.agent import StrategyAgent
        from hub_kernel.agents.strategy.bandit import ANALYSIS_PRIORS
        from hub_kernel.agents.strategy.tiles import fading_prior

        assert self.events is not None
        key = layout_key(user, dashboard)
        if seed is None:
            seed = self.plan_seed(user, dashboard)
        mine = self.events.events(user=user, dashboard=dashboard)
        learner, viewer = self.learner(), self.viewer(user, profile)
        stored = self.starting_layout(Layout([], n_columns), user=user, dashboard=dashboard,
                                      profile=profile)
        # a pinned or locked analysis tile is never dropped
        pinned = {t.analysis for t in stored if (t.pinned or t.locked) and t.analysis}
        rejected = rejected_twice(mine, FAILURE, self.agent.params.remove_after_downs)
        analysis_mode = self.controls.mode(user=user, dashboard=dashboard)
        strategy = StrategyAgent(mode=analysis_mode, seed=seed)
        choices = strategy.choose_tiles(
            profile, target, key=key, learner=learner, viewer=viewer,
            epsilon=self.exploration(user, analysis_mode), budget_seconds=budget_seconds,
            measured=self._measured_seconds(), pinned=pinned,
            rejected=rejected, n_columns=n_columns)
        chosen = {c.tile.id: c for c in choices if c.show}
        kept_ids: set[str] = set()
        held_back: list[tuple[Tile, str]] = []  # (tile, "show" or "skip") for approval
        if len(stored) and not self.controls.applies_directly(analysis_mode, "analysis"):
            # the mode lets the agent only propose analysis changes: the analyses this user
            # had stay (but those they rejected twice), the agent's changes are proposals
            current = {t.id for t in stored if t.analysis and t.id not in rejected}
            for c in choices:
                if c.show and c.tile.id not in current and c.tile.id not in pinned_ids(stored):
                    chosen.pop(c.tile.id, None)
                    held_back.append((c.tile, "show"))
                    log_decision(agent="strategy", mode=analysis_mode,
                                 action=f"propose show:{c.name} for {key}",
                                 explanation=f"{c.tile.title}: not applied in {analysis_mode} "
                                             f"mode; {c.why}", propensity=c.propensity,
                                 expected_reward=c.value)
                elif not c.show and c.tile.id in current:
                    kept_ids.add(c.tile.id)
                    held_back.append((c.tile, "skip"))
                    log_decision(agent="strategy", mode=analysis_mode,
                                 action=f"propose skip:{c.name} for {key}",
                                 explanation=f"{c.tile.title}: kept, {analysis_mode} mode; "
                                             f"{c.why}", propensity=c.propensity,
                                 expected_reward=c.value)
        fresh = [*(live_tile(name, n_columns) for name in streams),
                 *cheap_tiles(profile, n_columns), *(c.tile for c in chosen.values())]
        if target is not None:
            fresh.append(model_tile(target, n_columns))
        fresh_ids = {t.id for t in fresh}
        skipped_ids = {c.tile.id for c in choices} - set(chosen) - kept_ids
        fresh_ids |= kept_ids
        # the stored arrangement first (pins, locks, sizes the user chose), then new tiles
        tiles = [t for t in stored if t.id not in skipped_ids
                 and (t.id in fresh_ids or t.pinned or t.locked)]
        tiles += [t for t in fresh if t.id not in {x.id for x in tiles}]
        layout = Layout(tiles, n_columns)
        candidates = {t.id: tile_chart_candidates(t, profile) for t in layout}
        planned = {t.id: PlannedTile(t, "default", "a live stream this dashboard follows"
                                     if t.kind == "live" else "drawn from the profile",
                                     chart_candidates=candidates[t.id]) for t in layout}
        for tid, c in chosen.items():
            planned[tid] = dataclasses.replace(planned[tid], agent="strategy", why=c.why,
                                               propensity=c.propensity,
                                               decision_id=c.decision_id, expected=c.value)
        if target is not None:
            tid = model_tile(target, n_columns).id
            planned[tid] = dataclasses.replace(planned[tid], agent="strategy",
                                               why=f"a target ({target}) was given")
        priors = {tid: c.prior for tid, c in chosen.items()}
        if target is not None:  # the model tile stands for the supervised model analysis
            tile = model_tile(target, n_columns)
            priors[tile.id] = fading_prior(learner, viewer, tile,
                                           ANALYSIS_PRIORS["supervised_model"])
        layout = self._arrange(layout, planned, mine=mine, learner=learner, viewer=viewer,
                               candidates=candidates, key=key, user=user,
                               dashboard=dashboard, profile=profile, priors=priors,
                               first=not len(stored))
        tiles_by_id = {t.id: dataclasses.replace(planned[t.id], tile=t) for t in layout}
        proposed, proposed_why = held_back_layout(layout, held_back)
        return Plan(dashboard, user, target, layout, tiles_by_id,
                    target_choices=target_choices(profile) if target is None else [],
                    skipped=[c.name for c in choices if c.tile.id not in chosen],
                    proposed=proposed, proposed_why=proposed_why)

    def plan_seed(self, user: str, dashboard: str) -> int:
        """The seed of a plan's exploring draws: fixed while nothing was learned from this
        user on this dashboard (no deliberate interaction, no round ended), so a page opened
        twice shows the same tiles, and a new draw once there is something new."""
        assert self.events is not None
        state = (f"{user}\0{dashboard}\0{self.events.deliberate_count(user=user)}\0"
                 f"{self.events.round_count(user=user, dashboard=dashboard)}")
        return int.from_bytes(hashlib.sha256(state.encode()).digest()[:8], "big")

    def _arrange(self, layout: Layout, planned: dict[str, PlannedTile], *,
                 mine: list[InteractionEvent], learner: TileLearner, viewer: Viewer,
                 candidates: Mapping[str, tuple[str, ...]], key: str, user: str,
                 dashboard: str, profile: Any, priors: Mapping[str, float],
                 first: bool) -> Layout:
        """The design agent's arrangement of a plan's tiles, audited. A ``first`` arrangement
        (no stored layout of this user: nothing they saw changes) always applies; a stored one
        is re-arranged only where the autonomy mode applies layout changes, else it stays and
        the proposal is logged."""
        mode = self.controls.mode(user=user, dashboard=dashboard)
        if not len(layout):
            return layout
        epsilon = self.exploration(user, mode)
        prior = dict(priors)  # the analysts' priors of analysis tiles, plus the pretrained's
        for tid, offset in self.pretrained_prior(layout, user, mine, profile).items():
            prior[tid] = prior.get(tid, 0.0) + offset
        proposal = guarded(self.agent.name, key, lambda: self.agent.decide(DesignContext(
            layout, mine, learner, viewer, candidates, prior=prior, epsilon=epsilon,
            observation={"dashboard": dashboard, "user": user, "epsilon": round(epsilon, 4),
                         "plan": True}, seed=self.plan_seed(user, dashboard))),
            failures=self.failures)
        if proposal is None:  # the agent failed (logged): the plan's own order is shown
            return layout
        applies = first or self.controls.applies_directly(mode, "layout")
        arranged = Layout.from_dict(proposal.layout) if applies else layout
        action = f"{'arrange' if applies else 'propose'} for {key}"
        entry = self._same_decision(action, proposal.why(), proposal.propensity) or log_decision(
            agent=self.agent.name, mode=mode, action=action, explanation=proposal.why(),
            propensity=proposal.propensity, expected_reward=proposal.expected_reward,
            observation=proposal.observation)
        for tile in arranged:
            if planned[tile.id].agent == "default":
                planned[tile.id] = dataclasses.replace(
                    planned[tile.id], agent="design", why=proposal.explanation,
                    propensity=float(proposal.propensity or 1.0),
                    decision_id=getattr(entry, "id", None))
        return arranged

    def _same_decision(self, action: str, explanation: str,
                       propensity: float | None) -> Any:
        """The design agent's newest audit row about this dashboard when it was this same
        decision (a page reopened with nothing learned since): not logged again."""
        from hub_kernel.safety.audit import AuditLog

        key = action.partition(" for ")[2]
        try:
            rows = AuditLog().entries(agent=self.agent.name, action=f" for {key}", limit=1)
        except HubError:
            return None
        last = rows[-1] if rows else None
        if last is not None and (last.action, last.explanation, last.propensity) == (
                action, explanation, None if propensity is None else float(propensity)):
            return last
        return None

    def _measured_seconds(self) -> dict[str, list[float]]:
        """Measured compute seconds per analysis, over everyone's runs."""
        from hub_kernel.agents.strategy.tiles import measured_seconds

        assert self.events is not None
        return measured_seconds(self.events.events(kind="compute"))

    # -- sessions ----------------------------------------------------------------------------
    def open(self, layout: Layout, *, user: str, dashboard: str, profile: Any | None = None,
             session: str | None = None) -> DashboardSession:
        """Start one person's session on a dashboard (its layout already chosen)."""
        return DashboardSession(self, layout, user=user, dashboard=dashboard, profile=profile,
                                session=session or uuid.uuid4().hex[:12])

    def starting_layout(self, default: Layout, *, user: str, dashboard: str,
                        profile: Any) -> Layout:
        """The layout this user had last time on this dashboard, if it still fits the data;
        else ``default``."""
        latest = self.versions.latest("layout", layout_key(user, dashboard))
        if latest is None:
            return default
        try:
            stored = Layout.from_dict(latest.payload)
        except Exception:
            return default
        fitted = consistent(stored, profile)
        return fitted if len(fitted) else default

    def _on_interaction(self, event: Event) -> None:
        """The bus subscriber: store a session's event and teach the learner."""
        session = event.payload.get("session")
        if not isinstance(session, DashboardSession) or session.controller is not self:
            return
        session.learn(event.payload["event"])

    def teach(self, rows: list[tuple[Any, int | None, float, float]], viewer: Viewer) -> None:
        """Update the shared learner with ``(tile, slot, reward, weight)`` rows."""
        if not rows:
            return
        learner = TileLearner()
        X = learner.vectors([viewer.attributes(t, s) for t, s, _, _ in rows])
        self.learners.update(LEARNER, X, [r for _, _, r, _ in rows],
                             [w for _, _, _, w in rows])
