"""Which analyses are worth computing and showing: a contextual bandit (``AnalysisBandit``).

For each analysis a Bayesian linear model of the reward a user gives its tile (kept, expanded,
thumbs up...) given the dataset's profile features. It starts from priors (what an analyst
would show first) and learns from feedback. An analysis is shown when a Thompson sample of its
value clears ``threshold``; the probability of that is exact under the Gaussian posterior, so
every decision carries its propensity (off-policy evaluable).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hub_kernel.data.profile import profile_features

if TYPE_CHECKING:
    from hub_kernel.data.profile import DatasetProfile


#: the value an analyst would give each analysis before any feedback (reward scale 0..1)
ANALYSIS_PRIORS: dict[str, float] = {
    "summary": 0.75, "distributions": 0.65, "correlations": 0.62, "missingness": 0.6,
    "outliers": 0.55, "trend": 0.8, "segments": 0.6, "clustering": 0.45,
    "feature_importance": 0.78, "supervised_model": 0.72,
}
DEFAULT_PRIOR = 0.5
#: reward of each kind of feedback on an analysis's tile
SIGNALS: dict[str, float] = {
    "thumbs_up": 1.0, "expand": 1.0, "pin": 1.0, "task_done": 1.0, "kept": 0.7, "click": 0.6,
    "ignored": 0.3, "dismiss": 0.0, "thumbs_down": 0.0,
}


def analysis_context(profile: DatasetProfile, target: str | None = None) -> np.ndarray:
    """What the analysis bandit sees: the profile's meta-features, whether a target is
    given, and a constant (the prior's coordinate)."""
    return np.concatenate([np.clip(profile_features(profile), 0, 1),
                           [float(target is not None), 1.0]])


@dataclass(frozen=True)
class AnalysisChoice:
    """The agent's decision about one analysis for one dataset."""

    name: str
    title: str
    applies: bool
    show: bool
    value: float  # posterior mean of the reward
    sd: float  # posterior standard deviation
    probability: float  # probability of showing it under the policy
    propensity: float  # probability of the decision taken (show or skip)
    explanation: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class AnalysisBandit:
    """Per analysis, a Bayesian linear model of the reward given the context (Gaussian
    prior centred on ``ANALYSIS_PRIORS``, known noise ``noise``)."""

    def __init__(self, *, prior_precision: float = 4.0, noise: float = 0.35,
                 threshold: float = 0.5, dimension: int = 10) -> None:
        self.prior_precision = prior_precision
        self.noise = noise
        self.threshold = threshold
        self.dimension = dimension
        self._A: dict[str, np.ndarray] = {}
        self._b: dict[str, np.ndarray] = {}
        self.counts: dict[str, int] = {}

    def _arm(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in self._A:
            A = self.prior_precision * np.eye(self.dimension)
            theta = np.zeros(self.dimension)
            theta[-1] = ANALYSIS_PRIORS.get(name, DEFAULT_PRIOR)  # on the constant coordinate
            self._A[name], self._b[name] = A, A @ theta
        return self._A[name], self._b[name]

    def posterior(self, name: str, context: np.ndarray) -> tuple[float, float]:
        """Mean and standard deviation of the expected reward of ``name`` in ``context``."""
        A, b = self._arm(name)
        inverse = np.linalg.inv(A)
        mean = float(context @ inverse @ b)
        sd = float(self.noise * math.sqrt(max(float(context @ inverse @ context), 1e-12)))
        return mean, sd

    def probability_shown(self, name: str, context: np.ndarray) -> float:
        """P(Thompson sample >= threshold): the exact propensity of showing ``name``."""
        mean, sd = self.posterior(name, context)
        return 0.5 * (1 + math.erf((mean - self.threshold) / (sd * math.sqrt(2))))

    def update(self, name: str, context: np.ndarray, reward: float) -> None:
        A, b = self._arm(name)
        self._A[name] = A + np.outer(context, context)
        self._b[name] = b + reward * context
        self.counts[name] = self.counts.get(name, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        return {"prior_precision": self.prior_precision, "noise": self.noise,
                "threshold": self.threshold, "dimension": self.dimension,
                "arms": {n: {"A": self._A[n].tolist(), "b": self._b[n].tolist(),
                             "n": self.counts.get(n, 0)} for n in self._A}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnalysisBandit:
        bandit = cls(prior_precision=data["prior_precision"], noise=data["noise"],
                     threshold=data["threshold"], dimension=data["dimension"])
        for name, arm in data.get("arms", {}).items():
            bandit._A[name] = np.array(arm["A"], dtype="float64")
            bandit._b[name] = np.array(arm["b"], dtype="float64")
            bandit.counts[name] = int(arm.get("n", 0))
        return bandit

