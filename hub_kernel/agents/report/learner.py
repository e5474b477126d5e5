"""The Report Generation Agent's learner: which sections a report holds, in which order.

A Bayesian bandit over sections. Each (audience, section) has a Beta posterior: the audience's
prior appeal (``sections.AUDIENCES``) as ``prior_strength`` pseudo-observations, then reader
feedback stored in SQLite (``store.FeedbackStore``, ``$HUB_HOME/reports.db``): thumbs up and
time spent reading count as successes, thumbs down and a section closed within seconds of
opening as failures, opening a section as half a success; each reader's evidence on a section is
capped at ``per_reader_weight`` pseudo-observations and at what all its other readers gave
together, so one person (or one scripted tab) cannot outweigh the rest. A decision keeps the
audience's pinned sections first, then the other available sections with the best posterior
means, best first, up to ``n_sections``; with probability ``epsilon`` it explores: the last slot
goes to the winner of a Thompson draw among the sections not otherwise kept (so sections readers
have not seen yet get a chance). It reports the propensity of the list it chose (for off-policy
evaluation) and its expected reward, and is written to the audit log with an explanation.

Transfer between agents (``transfer.TileTransfer``): a section's prior appeal starts from what
people did with the dashboard tiles telling the same story (``sections.SECTION_TILES``): the
shared contextual learner's expected reward of that tile kind, as a shift from a kind nobody
judged; and a reader's deliberate feedback on a section (thumbs, expand, a quick close) is sent
into that learner as feedback on the matching tile kind, marked ``surface=report``.

Governance: the report domain follows the autonomy mode (``safety.modes``). Where the mode lets
the agent act, the report holds its choice; elsewhere (``assisted``, or ``autonomous`` without
``report`` in ``HUB_AUTONOMOUS_DOMAINS``) it holds the audience's default sections, and the
agent's learned choice is only proposed (``SectionDecision.proposed``, in the audit log).

``SectionLearner`` is an ``agents.common.agent.Agent``: ``decide`` (a ``SectionContext``),
``update`` (a ``SectionFeedback``), ``save``/``load`` (its ``LearnerParams``). Composing and
exporting reports with it is ``hub_kernel.reports`` (one layer up).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from hub_kernel.agents.common.bandits import Posterior, ranking_probability, thompson_draw
from hub_kernel.agents.common.learner import LearnerStore
from hub_kernel.agents.report.sections import SECTIONS
from hub_kernel.agents.report.sections import audience as audience_spec
from hub_kernel.agents.report.store import FeedbackStore
from hub_kernel.agents.report.transfer import TileTransfer
from hub_kernel.core.config import get_settings
from hub_kernel.exceptions import ReportError
from hub_kernel.safety.modes import Controls

logger = logging.getLogger("hub_kernel")

AGENT = "report"
@dataclass(frozen=True)
class LearnerParams:
    """Knobs of the section bandit (estimator style: stored unchanged)."""

    prior_strength: float = 2.0
    expand_weight: float = 0.5
    quick_close_seconds: float = 3.0  # a section closed sooner than this was not wanted
    quick_close_weight: float = 0.5
    full_read_seconds: float = 60.0  # reading this long counts as a full success
    time_weight: float = 1.0
    position_decay: float = 0.85
    #: the most evidence one reader gives a section (pseudo-observations), and never more
    #: than all its other readers together: nobody outweighs the rest by sending more
    per_reader_weight: float = 10.0
    mc_samples: int = 2000


@dataclass(frozen=True)
class SectionDecision:
    """The sections chosen for one report, and what the audit log needs to judge it."""

    audience: str
    sections: tuple[str, ...]
    propensity: float
    expected_reward: float
    explored: bool
    explanation: str
    runner_up: tuple[str, ...] = ()
    appeal: dict[str, float] = field(default_factory=dict)
    audit_id: int | None = None
    mode: str = ""  # the autonomy mode the decision was taken in
    #: the agent's own choice when the mode keeps the default sections (empty: none proposed)
    proposed: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"audience": self.audience, "sections": list(self.sections),
                "propensity": self.propensity, "expected_reward": self.expected_reward,
                "explored": self.explored, "explanation": self.explanation,
                "runner_up": list(self.runner_up), "appeal": dict(self.appeal),
                "audit_id": self.audit_id, "mode": self.mode,
                "proposed": list(self.proposed)}


@dataclass(frozen=True)
class SectionContext:
    """What a report's section choice is made from (``SectionLearner.decide``)."""

    audience: str
    available: tuple[str, ...] | None = None  # None: every section
    n_sections: int | None = None
    observation: Mapping[str, Any] | None = None  # for the audit log
    epsilon: float | None = None
    mode: str | None = None  # None: the learner's, else the one in force


@dataclass(frozen=True)
class SectionFeedback:
    """What a reader did with a section (``SectionLearner.update``; ``FeedbackStore.record``)."""

    audience: str
    section: str
    kind: str
    value: float = 1.0
    user: str | None = None
    report: str | None = None


class SectionLearner:
    """Chooses and orders report sections per audience; learns from reader feedback."""

    name = AGENT

    def __init__(self, store: FeedbackStore | None = None, *,
                 params: LearnerParams | None = None, epsilon: float | None = None,
                 seed: int | None = None, audit: bool = True,
                 transfer: TileTransfer | None = None, shared: bool = True,
                 mode: str | None = None) -> None:
        self.store = store or FeedbackStore()
        self.params = params or LearnerParams()
        # the tile learner beside the feedback (under HUB_HOME: the dashboard agents' own);
        # ``shared=False``: a learner of report feedback alone, nothing sent or taken
        self.transfer = transfer or (TileTransfer(
            LearnerStore(self.store.path.with_name("events.db")),
            quick_close_seconds=self.params.quick_close_seconds) if shared else None)
        self.mode = mode  # None: the mode set for everyone (hub mode set), else the setting
        self.epsilon = epsilon
        self.seed = seed
        self.audit = audit
        self._rng = np.random.default_rng(seed)

    # -- the agent contract -----------------------------------------------------------------
    def decide(self, context: SectionContext) -> SectionDecision:
        """``choose`` for ``context``."""
        return self.choose(context.audience, context.available,
                           n_sections=context.n_sections, observation=context.observation,
                           epsilon=context.epsilon, mode=context.mode)

    def update(self, feedback: SectionFeedback) -> None:
        """Store what a reader did (``feedback``)."""
        self.feedback(feedback.audience, feedback.section, feedback.kind, feedback.value,
                      user=feedback.user, report=feedback.report)

    def save(self) -> dict[str, Any]:
        """The bandit's settings (``LearnerParams``); the feedback is in the store already."""
        return asdict(self.params)

    @classmethod
    def load(cls, state: Mapping[str, Any], **kwargs: Any) -> SectionLearner:
        """A learner with the settings ``save`` returned (``kwargs``: store, epsilon...)."""
        return cls(params=LearnerParams(**state), **kwargs)

    # -- learning ---------------------------------------------------------------------------
    def feedback(self, audience: str, section: str, kind: str, value: float = 1.0, **kw: Any
                 ) -> None:
        """Record what a reader did with a section (see ``FeedbackStore.record``), and send it
        to the dashboard's tile learner (``TileTransfer.record``)."""
        self.store.record(audience, section, kind, value, **kw)
        if self.transfer is not None:
            self.transfer.record(section, kind, value, user=kw.get("user"))

    def appeal(self, audience: str, sections: Iterable[str] | None = None, *,
               learned: bool = True) -> dict[str, float]:
        """Prior appeal per section: the audience's, shifted by what people did with the
        matching dashboard tiles (``learned=False``: the audience's alone)."""
        spec = audience_spec(audience)
        names = list(sections) if sections is not None else list(SECTIONS)
        shifts = self.transfer.shifts(names) if learned and self.transfer is not None else {}
        return {s: float(np.clip(spec.appeal(s) + shifts.get(s, 0.0), 0.02, 0.98))
                for s in names}

    def posteriors(self, audience: str, sections: Iterable[str] | None = None, *,
                   learned: bool = True) -> dict[str, Posterior]:
        """Per-section posteriors for ``audience``: prior appeal (with what dashboards taught,
        ``appeal``), then the stored feedback; ``learned=False``: the audience's prior alone."""
        p = self.params
        prior = self.appeal(audience, sections, learned=learned)
        posts = {s: Posterior(1 + p.prior_strength * a, 1 + p.prior_strength * (1 - a))
                 for s, a in prior.items()}
        # what each reader taught, per section, before it is added: one reader's evidence on a
        # section is capped (a scripted tab sending thousands of thumbs is one reader)
        taught: dict[tuple[str, str], Posterior] = {}
        for section, kind, value, who in (self.store.events_by_reader(audience)
                                          if learned else ()):
            if section not in posts:
                continue
            inc = taught.setdefault((who, section), Posterior(0.0, 0.0))
            if kind == "thumbs_up":
                inc.alpha += value
                inc.n_up += value
            elif kind == "thumbs_down":
                inc.beta += value
                inc.n_down += value
            elif kind == "expand":
                inc.alpha += p.expand_weight * value
            elif kind == "collapse" and value < p.quick_close_seconds:
                inc.beta += p.quick_close_weight
            elif kind == "time":
                inc.seconds += value
                inc.alpha += p.time_weight * min(value / p.full_read_seconds, 1.0)
        weight = {key: min(inc.alpha + inc.beta, p.per_reader_weight)
                  for key, inc in taught.items()}
        readers: dict[str, list[tuple[str, str]]] = {}
        for key in taught:
            readers.setdefault(key[1], []).append(key)
        for key, inc in taught.items():
            section = key[1]
            total = inc.alpha + inc.beta
            limit = p.per_reader_weight
            if len(readers[section]) > 1:  # and never more than all the others together
                limit = min(limit, sum(weight[k] for k in readers[section] if k != key))
            scale = min(1.0, limit / total) if total > 0 else 1.0
            post = posts[section]
            post.alpha += scale * inc.alpha
            post.beta += scale * inc.beta
            post.n_up += scale * inc.n_up
            post.n_down += scale * inc.n_down
            post.seconds += inc.seconds
        return posts

    # -- acting -----------------------------------------------------------------------------
    def choose(self, audience: str, available: Iterable[str] | None = None, *,
               n_sections: int | None = None, observation: Mapping[str, Any] | None = None,
               epsilon: float | None = None, mode: str | None = None) -> SectionDecision:
        """The sections of the next report for ``audience``, from those ``available``; the
        learned choice where ``mode`` (default: the learner's, else the one in force) lets the
        report agent act, else the audience's default sections with the choice proposed."""
        spec = audience_spec(audience)
        candidates = list(dict.fromkeys(available if available is not None else SECTIONS))
        unknown = [s for s in candidates if s not in SECTIONS]
        if unknown:
            raise ReportError(f"unknown report section(s): {', '.join(unknown)}")
        if not candidates:
            raise ReportError("no section has anything to say about this data")
        n = max(1, min(n_sections or spec.n_sections, len(candidates)))
        eps = self._epsilon() if epsilon is None else epsilon
        mode = mode or self.mode or Controls().mode()
        posts = self.posteriors(audience, candidates)
        if Controls.applies_directly(mode, "report"):
            decision = replace(self._decide(audience, candidates, n, eps, posts), mode=mode)
        else:
            decision = self._governed(audience, candidates, n, mode, posts)
        if self.audit:
            decision = self._audit(decision, observation)
        return decision

    def _governed(self, audience: str, candidates: list[str], n: int, mode: str,
                  posts: Mapping[str, Posterior]) -> SectionDecision:
        """The audience's default sections, the learned (greedy) choice proposed."""
        learned = self._decide(audience, candidates, n, 0.0, posts)
        default = self._decide(audience, candidates, n, 0.0,
                               self.posteriors(audience, candidates, learned=False))
        why = ("assisted mode" if mode == "assisted" else
               f"{mode} mode, but reports are not in HUB_AUTONOMOUS_DOMAINS")
        titles = ", ".join(SECTIONS[s].title for s in default.sections)
        if learned.sections == default.sections:
            explanation = (f"{why}: the default sections for {audience} readers ({titles}), "
                           "which is also what readers' feedback favours")
            return replace(default, mode=mode, explanation=explanation)
        proposed = ", ".join(SECTIONS[s].title for s in learned.sections)
        explanation = (f"{why}: kept the default sections for {audience} readers ({titles}); "
                       f"the report agent proposes {proposed} from readers' feedback "
                       f"(expected {learned.expected_reward:.2f} against "
                       f"{self.expected(list(default.sections), posts):.2f}; let it apply "
                       "with `hub mode set supervised`)")
        return replace(default, mode=mode, proposed=learned.sections, explanation=explanation,
                       expected_reward=self.expected(list(default.sections), posts),
                       appeal=learned.appeal)

    def _decide(self, audience: str, candidates: list[str], n: int, eps: float,
                posts: Mapping[str, Posterior]) -> SectionDecision:
        """The learner's own choice: pinned sections, then the best posterior means, the last
        slot explored with probability ``eps``."""
        spec = audience_spec(audience)
        pinned = [s for s in spec.pinned if s in candidates][:n]
        free = [s for s in candidates if s not in pinned]
        k = n - len(pinned)
        greedy = self._top(free, {s: posts[s].mean for s in free}, k)
        explored = bool(self._rng.random() < eps) and k > 0
        chosen = greedy
        if explored:  # the last slot goes to a Thompson draw among the sections not kept
            rest = [s for s in free if s not in greedy[:k - 1]]
            chosen = [*greedy[:k - 1], *self._top(rest, self._sample(rest, posts), 1)]
        rest = [s for s in free if s not in greedy[:k - 1]]
        propensity = (1 - eps) * (chosen == greedy) + eps * (
            self._ts_probability(rest, posts, chosen[-1:]) if chosen[:k - 1] == greedy[:k - 1]
            and k > 0 else 0.0)
        runner = greedy if chosen != greedy else self._runner_up(free, posts, greedy, k)
        sections = (*pinned, *chosen)
        appeal = {s: round(posts[s].mean, 3) for s in candidates}
        how = "exploring (Thompson sample)" if explored else "best known order"
        shown = ", ".join(
            f"{SECTIONS[s].title} ({posts[s].mean:.2f}"
            + (f"; {posts[s].n_up:.0f} up, {posts[s].n_down:.0f} down" if posts[s].n_up
               or posts[s].n_down else "") + ")" for s in sections)
        left = [s for s in free if s not in chosen]
        best_left = max(left, key=lambda s: posts[s].mean) if left else None
        explanation = (f"{how} for {audience} readers ({spec.description}): {shown}"
                       + (f"; best left out: {SECTIONS[best_left].title} "
                          f"({posts[best_left].mean:.2f})" if best_left else ""))
        decision = SectionDecision(
            audience=audience, sections=sections, propensity=float(max(propensity, 1e-6)),
            expected_reward=self.expected([*pinned, *chosen], posts), explored=explored,
            explanation=explanation, runner_up=(*pinned, *runner), appeal=appeal)
        return decision

    def expected(self, sections: list[str], posts: Mapping[str, Posterior]) -> float:
        """Position-weighted appeal of a section list (the reward a report is expected to earn)."""
        if not sections:
            return 0.0
        weights = self.params.position_decay ** np.arange(len(sections))
        means = np.array([posts[s].mean for s in sections])
        return float((weights * means).sum() / weights.sum())

    # -- internals --------------------------------------------------------------------------
    def _epsilon(self) -> float:
        if self.epsilon is not None:
            return self.epsilon
        return get_settings().report_exploration

    @staticmethod
    def _top(sections: list[str], score: Mapping[str, float], k: int) -> list[str]:
        # stable: ties keep the catalogue order, so a learner without evidence is predictable
        return sorted(sections, key=lambda s: -score[s])[:k]

    def _sample(self, sections: list[str], posts: Mapping[str, Posterior]) -> dict[str, float]:
        draws = thompson_draw([posts[s] for s in sections], self._rng)
        return {s: d for s, d in zip(sections, draws, strict=True)}

    def _runner_up(self, free: list[str], posts: Mapping[str, Posterior], greedy: list[str],
                   k: int) -> list[str]:
        rest = [s for s in free if s not in greedy]
        if rest and greedy:  # the best section left out instead of the weakest one kept
            best = max(rest, key=lambda s: posts[s].mean)
            return [*greedy[:-1], best]
        return [*greedy[1:2], *greedy[:1], *greedy[2:]] if len(greedy) > 1 else greedy

    def _ts_probability(self, sections: list[str], posts: Mapping[str, Posterior],
                        chosen: list[str]) -> float:
        """How often a Thompson draw over ``sections`` ranks ``chosen`` first, in this order
        (Monte Carlo)."""
        index = {s: i for i, s in enumerate(sections)}
        return ranking_probability([posts[s] for s in sections], [index[s] for s in chosen],
                                   self.params.mc_samples)

    def _audit(self, decision: SectionDecision, observation: Mapping[str, Any] | None
               ) -> SectionDecision:
        from hub_kernel.safety.audit import AuditLog

        entry = AuditLog().record(
            agent=AGENT, action=f"report:{decision.audience}", explanation=decision.explanation,
            mode=decision.mode or get_settings().autonomy_mode,
            observation={**(observation or {}), "audience": decision.audience,
                         "sections": list(decision.sections),
                         "proposed": list(decision.proposed)},
            propensity=decision.propensity, expected_reward=decision.expected_reward)
        return replace(decision, audit_id=entry.id)
