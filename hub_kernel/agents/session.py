"""One person's session on a dashboard, and what its events teach the shared learner.

``DashboardSession`` takes a viewer's interactions (published on the controller's bus; the
controller's subscriber calls ``learn``), keeps the round's events and the shown tiles' quality,
scores a round with the product's reward (``agents.common.reward``) and, after
``relayout_every`` deliberate interactions, asks the design agent for the next arrangement
through its ``LayoutGovernor``. ``event_evidence``, ``passive_evidence`` and ``tile_rewards``
are what one event, and a round's dwell, teach about a tile.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterable
from typing import Any

from hub_kernel.agents.common.events import (
    DASHBOARD_TILE,
    DELIBERATE_KINDS,
    KINDS,
    InteractionEvent,
)
from hub_kernel.agents.common.learner import TILE_REWARD
from hub_kernel.agents.common.reward import (
    DWELL_CAP_SECONDS,
    ENGAGED_DWELL_SECONDS,
    reward_terms,
)
from hub_kernel.agents.layout.design import DesignContext
from hub_kernel.agents.plan import tile_chart_candidates
from hub_kernel.core.config import get_settings
from hub_kernel.exceptions import AgentError, HubError
from hub_kernel.layout import Layout
from hub_kernel.safety.audit import log_decision
from hub_kernel.safety.governor import Decision, LayoutGovernor
from hub_kernel.safety.guard import guarded

logger = logging.getLogger("hub_kernel")

PASSIVE = ("dwell", "click", "render", "compute")
# end-of-round evidence from dwell, for every tile looked at or passed by: the reward when
# engaged / passed by (``passive_evidence``), and the weight of one round's clear verdict
LOOKED_AT = 0.75
PASSED_BY = 0.35
# tuned on benchmarks/layout_joint.py's seeds 100-102 (0.25, 0.5, 1.0, 3.0 tried; its
# docstring): 1.0, as much as one explicit judgement and no more
PASSIVE_WEIGHT = 1.0
CLICK_WEIGHT = 0.25  # a click is a measured signal, not a judgement: it teaches a quarter


def event_evidence(kind: str, value: float = 1.0) -> tuple[float, float] | None:
    """What one event teaches about its tile at once: ``(reward, weight)``, or ``None`` for
    events that are not feedback on a tile (dwell, render...)."""
    reward = TILE_REWARD.get(kind)
    if reward is None or not value > 0:
        return None
    return reward, 1.0 if kind in DELIBERATE_KINDS else CLICK_WEIGHT


def passive_evidence(events: Iterable[InteractionEvent]) -> dict[str, tuple[float, float]]:
    """End of round: what the dwell of the round's ``events`` teaches, ``tile -> (reward,
    weight)``: ``LOOKED_AT`` for a tile on screen at least ``ENGAGED_DWELL_SECONDS`` (summed),
    else ``PASSED_BY``; the weight (up to ``PASSIVE_WEIGHT``) grows with how clearly the dwell
    is on its side of that line (a glance is a clear pass, 10 s a clear look), so dwell near
    the line teaches little. Every tile with dwell gets its row, clicked or judged ones too:
    the dwell is an observation of its own."""
    dwell: dict[str, float] = {}
    for e in events:
        if e.kind == "dwell":
            dwell[e.tile] = dwell.get(e.tile, 0.0) + max(e.value, 0.0)
    rows = {}
    for tile, seconds in dwell.items():
        seconds = min(seconds, DWELL_CAP_SECONDS)
        margin = min(abs(seconds - ENGAGED_DWELL_SECONDS) / ENGAGED_DWELL_SECONDS, 1.0)
        reward = LOOKED_AT if seconds >= ENGAGED_DWELL_SECONDS else PASSED_BY
        rows[tile] = (reward, PASSIVE_WEIGHT * max(margin, 0.1))
    return rows


def tile_rewards(events: Iterable[InteractionEvent]) -> dict[str, float]:
    """One reward per tile from a round's ``events``: the weighted mean of what the shared
    learner is taught (``event_evidence`` of each event, ``passive_evidence`` of the dwell),
    for a learner that takes one number per tile (a bandit baseline given the same
    evidence). Tiles nothing was learned about are absent."""
    events = list(events)
    rows: dict[str, list[tuple[float, float]]] = {}
    for e in events:
        evidence = event_evidence(e.kind, e.value)
        if evidence is not None:
            rows.setdefault(e.tile, []).append(evidence)
    for tile, evidence in passive_evidence(events).items():
        rows.setdefault(tile, []).append(evidence)
    return {tile: sum(r * w for r, w in ev) / sum(w for _, w in ev) for tile, ev in rows.items()}


class DashboardSession:
    """One person's session on one dashboard: feedback in, re-arrangements out."""

    # ``controller``: the MetaController that opened it (not imported: it imports this module)
    def __init__(self, controller: Any, layout: Layout, *, user: str,
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
        self.viewer = controller.viewer(user, profile)
        self.expanded: set[str] = set()
        self.quality: dict[str, float] = {}
        self.since_round = 0
        self.last: Decision | None = None
        self.rounds = 0
        self.failed = False  # the last round's agent raised (the layout stayed)
        self._round_events: list[InteractionEvent] = []
        self._lock = threading.Lock()
        self._scored = False  # the round after the last decision has a reward row
        #: tile id -> (tile, slot) of every tile shown this session, removed ones included
        self._seen: dict[str, tuple[Any, int]] = {t.id: (t, i) for i, t in enumerate(layout)}

    @property
    def mode(self) -> str:
        return self.governor.mode

    def interact(self, tile_id: str, kind: str, value: float = 1.0) -> Decision | None:
        """Record an interaction (tile ``"dashboard"`` for done, rating, train, export); after
        ``relayout_every`` deliberate ones (not dwell, clicks, render or compute), run a
        round."""
        if kind not in KINDS:
            raise AgentError(f"unknown interaction kind {kind!r}; kinds: {', '.join(KINDS)}")
        # a tile no longer on the grid (a page a moment late) is kept as history, unlearned
        feature = (self.layout[tile_id].kind if tile_id in self.layout
                   else DASHBOARD_TILE if tile_id == DASHBOARD_TILE else "")
        if tile_id in self.layout:  # a tile removed later (dismiss) is still known
            self._seen[tile_id] = (self.layout[tile_id], self.layout.slot_of(tile_id))
        elif tile_id in self._seen:
            feature = self._seen[tile_id][0].kind
        event = InteractionEvent(self.user, self.session, self.dashboard, tile_id, kind, value,
                                 feature=feature)
        self.controller.bus.publish("interaction", session=self, event=event, user=self.user,
                                    dashboard=self.dashboard, tile=tile_id, kind=kind,
                                    value=value)
        if kind in PASSIVE or tile_id == DASHBOARD_TILE:
            return None  # measured, not a request: never what triggers a re-arrangement
        self.since_round += 1
        if self.since_round >= get_settings().relayout_every:
            return self.relayout()
        return None

    def learn(self, event: InteractionEvent) -> None:
        """Keep ``event`` and teach the learner its tile's reward, if it is feedback."""
        self.agent.update([event])  # the event store
        with self._lock:
            self._round_events.append(event)
        if event.kind == "expand":
            self.expanded.add(event.tile)
        evidence = event_evidence(event.kind, event.value)
        known = self._seen.get(event.tile)
        if evidence is not None and known is not None:
            tile, slot = known
            self.controller.teach([(tile, slot, *evidence)], self.viewer)

    def record_quality(self, tile_id: str, value: float) -> None:
        """The statistical support of an analysis tile, or a model tile's held-out score
        against its baseline, in [0, 1] (the accuracy term of the round's reward)."""
        if not 0.0 <= value <= 1.0 or value != value:
            raise AgentError(f"a tile's quality must be between 0 and 1, not {value}")
        if tile_id not in self.layout:
            raise AgentError(f"no tile {tile_id!r} on dashboard {self.dashboard}")
        with self._lock:
            self.quality[tile_id] = float(value)

    def round_terms(self) -> dict[str, float]:
        """This round's reward terms, from its events (docs/reward.md)."""
        with self._lock:  # analysis threads add events and qualities meanwhile
            events = list(self._round_events)
            shown = {k: v for k, v in self.quality.items() if k in self.layout}
        n_tiles = len(set(self.layout.ids) | {e.tile for e in events if e.tile in self._seen})
        return reward_terms(events, n_tiles, quality=shown)

    def _passive_evidence(self) -> list[tuple[Any, int | None, float, float]]:
        """End of round: a small update for the tiles on the grid looked at (engaged) or
        passed by (``passive_evidence``)."""
        rows = passive_evidence(self._round_events)
        return [(self.layout[t], self.layout.slot_of(t), reward, weight)
                for t, (reward, weight) in rows.items() if t in self.layout]

    def end_round(self) -> None:
        """Close the round without re-arranging (the viewer is done, rated the page or left):
        its dwell is learned and its reward recorded."""
        self._score_round()
        with self._lock:
            self._round_events = []
        self.since_round = 0

    def _score_round(self) -> None:
        """Learn the round's passive evidence and record its reward (with its terms)."""
        controller = self.controller
        mode = self.mode
        try:
            controller.teach(self._passive_evidence(), self.viewer)
        except HubError as exc:
            logger.warning("the round's dwell evidence was not learned: %s", exc)
        if self._round_events or (self.last is not None and not self._scored):
            terms = self.round_terms()
            reward = controller.reward(terms)
            explored = self.last.explanation.startswith("exploring") if self.last else None
            controller.record_reward(self, reward, explored, terms)
            if self.last is not None and self.last.audit_id is not None:
                log_decision(agent=self.agent.name, mode=mode, ref=self.last.audit_id,
                             action="outcome", outcome_reward=reward,
                             explanation=f"reward {reward:.3f} for the round after this "
                                         "decision: " + ", ".join(f"{k} {v:.2f}"
                                                                   for k, v in terms.items()))
        self._scored = True  # until the next decision
        with self._lock:
            self._round_events = []  # scored: the evidence is not learned twice

    def relayout(self) -> Decision | None:
        """One round: the agent proposes, the governor decides. ``None``: the agent failed
        and the layout stayed as it was."""
        controller = self.controller
        mode = self.mode
        self._score_round()

        def step() -> Decision:
            assert controller.events is not None
            mine = controller.events.events(user=self.user, dashboard=self.dashboard)
            epsilon = controller.exploration(self.user, mode)
            candidates = ({t.id: tile_chart_candidates(t, self.profile) for t in self.layout}
                          if self.profile is not None else {})
            proposal = self.agent.decide(DesignContext(
                self.layout, mine, controller.learner(), self.viewer, candidates,
                prior=controller.pretrained_prior(self.layout, self.user, mine, self.profile),
                epsilon=epsilon, keep=frozenset(self.expanded),
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
        with self._lock:
            self._round_events = []
        if decision is None:
            return None
        self.last, self._scored = decision, False
        return decision
