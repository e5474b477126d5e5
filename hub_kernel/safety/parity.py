"""Reward parity: whether the agents starve a group of users of reward.

``RewardParity`` collects ``(group, reward)`` pairs (e.g. users grouped by skill level) and flags
a group as starved when, with enough rewards on both sides, its mean reward is below the best
group's by more than ``HUB_REWARD_PARITY_THRESHOLD`` and Welch's one-sided t-test agrees
(p < alpha). The controller records the rewards and ``hub doctor`` reports them; the fairness
of models (fairlearn, the promotion gate) is ``hub_kernel.models.fairness``.

scipy is imported inside the function that uses it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hub_kernel.exceptions import FairnessError

if TYPE_CHECKING:
    import pandas as pd

    from hub_kernel.safety.audit import AuditEntry

logger = logging.getLogger("hub_kernel")


@dataclass
class _Tally:
    count: int = 0
    mean: float = 0.0
    m2: float = 0.0  # Welford: sum of squared deviations
    explored: int = 0
    exploration_known: int = 0

    def add(self, reward: float, explored: bool | None) -> None:
        self.count += 1
        delta = reward - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (reward - self.mean)
        if explored is not None:
            self.exploration_known += 1
            self.explored += int(bool(explored))

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else 0.0


@dataclass(frozen=True)
class GroupReward:
    """One user group's rewards, against the best group."""

    group: str
    count: int
    mean: float
    std: float
    explored_share: float | None  # share of its decisions that explored (None: not recorded)
    gap: float  # best group's mean minus this one's
    p_value: float | None  # Welch's one-sided test of "below the best" (None: not tested)
    starved: bool


@dataclass(frozen=True)
class RewardParityReport:
    """Per-group mean reward and which groups the agents starve."""

    groups: tuple[GroupReward, ...]  # best mean first
    best: str | None
    starved: tuple[str, ...]
    threshold: float
    min_count: int
    alpha: float
    explanation: str

    @property
    def passed(self) -> bool:
        return not self.starved

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([g.__dict__ for g in self.groups])

    def to_dict(self) -> dict[str, Any]:
        return {"groups": [dict(g.__dict__) for g in self.groups], "best": self.best,
                "starved": list(self.starved), "threshold": self.threshold,
                "min_count": self.min_count, "alpha": self.alpha,
                "explanation": self.explanation, "passed": self.passed}


class RewardParity:
    """Monitor that no user group is starved of reward by the agents (e.g. by exploration).

    ``record(group, reward, explored=...)`` one reward at a time (constant memory per group);
    ``report()`` computes; ``check()`` also writes an audit entry when a group is flagged. A group
    is starved when it and the best group (highest mean among groups with ``min_count``
    rewards) both have at least ``min_count`` rewards, its mean is lower by more than
    ``threshold``, and Welch's t-test (one-sided, unequal variances) gives p < ``alpha``.
    ``threshold`` and ``min_count`` default to ``HUB_REWARD_PARITY_THRESHOLD`` and
    ``HUB_REWARD_PARITY_MIN_COUNT``.
    """

    def __init__(self, *, threshold: float | None = None, min_count: int | None = None,
                 alpha: float = 0.05, agent: str = "reward_parity") -> None:
        self.threshold = threshold
        self.min_count = min_count
        self.alpha = alpha
        self.agent = agent
        self._tallies: dict[str, _Tally] = {}

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"threshold": self.threshold, "min_count": self.min_count, "alpha": self.alpha,
                "agent": self.agent}

    def record(self, group: Any, reward: float, *, explored: bool | None = None) -> None:
        """Add one reward earned by a user of ``group`` (``explored``: whether the decision
        that earned it was exploratory)."""
        try:
            value = float(reward)
        except (TypeError, ValueError):
            raise FairnessError(f"reward {reward!r} of group {group!r} is not a number") from None
        if not math.isfinite(value):
            raise FairnessError(f"reward {reward!r} of group {group!r} is not finite")
        self._tallies.setdefault(str(group), _Tally()).add(value, explored)

    def extend(self, pairs: Iterable[tuple[Any, float]] | Mapping[Any, Iterable[float]]) -> None:
        """Add many ``(group, reward)`` pairs, or ``{group: rewards}``."""
        if isinstance(pairs, Mapping):
            for group, rewards in pairs.items():
                for reward in rewards:
                    self.record(group, reward)
            return
        for group, reward in pairs:
            self.record(group, reward)

    def _settings(self) -> tuple[float, int]:
        from hub_kernel.core.config import get_settings

        settings = get_settings()
        threshold = settings.reward_parity_threshold if self.threshold is None else self.threshold
        min_count = settings.reward_parity_min_count if self.min_count is None else self.min_count
        if threshold <= 0 or min_count < 2 or not 0 < self.alpha < 1:
            raise FairnessError(
                f"reward parity needs threshold > 0, min_count >= 2 and 0 < alpha < 1 (got "
                f"{threshold}, {min_count}, {self.alpha})")
        return float(threshold), int(min_count)

    def report(self) -> RewardParityReport:
        """Per-group mean reward and count, the gap to the best group and the starved groups."""
        from scipy.stats import ttest_ind_from_stats

        threshold, min_count = self._settings()
        tallies = self._tallies
        ready = {g: t for g, t in tallies.items() if t.count >= min_count}
        best = max(ready, key=lambda g: ready[g].mean) if ready else None
        top = tallies[best] if best is not None else None
        rows = []
        for group, tally in sorted(tallies.items(), key=lambda item: -item[1].mean):
            gap = (top.mean - tally.mean) if top is not None else 0.0
            p_value: float | None = None
            if top is not None and group != best and tally.count >= min_count:
                if top.std == 0 and tally.std == 0:
                    p_value = 0.0 if gap > 0 else 1.0
                else:
                    p_value = float(ttest_ind_from_stats(
                        top.mean, top.std, top.count, tally.mean, tally.std, tally.count,
                        equal_var=False, alternative="greater").pvalue)
            share = (tally.explored / tally.exploration_known
                     if tally.exploration_known else None)
            flagged = p_value is not None and gap > threshold and p_value < self.alpha
            rows.append(GroupReward(group, tally.count, tally.mean, tally.std, share, gap,
                                    p_value, flagged))
        starved = tuple(r.group for r in rows if r.starved)
        return RewardParityReport(tuple(rows), best, starved, threshold, min_count, self.alpha,
                                  _parity_explanation(rows, best, starved, threshold, min_count))

    def check(self, *, audit: bool = True, mode: str | None = None) -> RewardParityReport:
        """``report()``, and when a group is starved, an audit entry saying which and why."""
        report = self.report()
        if report.starved and audit:
            _audit_parity(self.agent, mode, report)
        if report.starved:
            logger.warning("reward parity: %s", report.explanation)
        return report


def _parity_explanation(rows: list[GroupReward], best: str | None, starved: tuple[str, ...],
                        threshold: float, min_count: int) -> str:
    if best is None:
        return (f"not enough rewards yet: no group has {min_count} (have "
                f"{', '.join(f'{r.group}: {r.count}' for r in rows) or 'none'})")
    top = next(r for r in rows if r.group == best)
    if not starved:
        waiting = [r.group for r in rows if r.count < min_count]
        text = (f"no group starved: every group with {min_count}+ rewards is within "
                f"{threshold:g} of {best!r} (mean {top.mean:.3g}) or not significantly below")
        return text + (f"; too few rewards to judge {', '.join(waiting)}" if waiting else "")
    parts = []
    for r in rows:
        if not r.starved:
            continue
        part = (f"group {r.group!r} is starved: mean reward {r.mean:.3g} over {r.count} rewards "
                f"vs {top.mean:.3g} for {best!r} (gap {r.gap:.3g} > {threshold:g}, Welch p = "
                f"{r.p_value:.2g})")
        if r.explored_share is not None and top.explored_share is not None:
            part += (f"; {r.explored_share:.0%} of its decisions explored vs "
                     f"{top.explored_share:.0%}")
        parts.append(part)
    return "; ".join(parts)


def _audit_parity(agent: str, mode: str | None, report: RewardParityReport) -> AuditEntry | None:
    from hub_kernel.safety.audit import log_decision

    return log_decision(agent=agent, mode=mode,
                        action=f"flag reward parity: {', '.join(report.starved)} starved",
                        explanation=report.explanation, propensity=1.0,
                        observation=report.to_dict())
