"""What the family policy of the strategy agent observes during a pipeline search (the layout
of ``hub_kernel.agents.strategy.env``'s observation, built here so the search can ask a
trained policy without importing the agents layer).

In order: the dataset's meta-features (``warmstart.search_features``, 14); per family in
``FAMILY_ORDER``: tried, best score as a share of the way from the baseline to the best so far,
evaluations / 20, median seconds per evaluation / time left (4 each); share of the budget
spent, and the best score's gain over the baseline (2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from hub_kernel.automl.warmstart import N_META

FAMILY_ORDER = ("hgb", "rf", "et", "linear", "svm", "knn")
N_FAMILY = 4
OBSERVATION_SIZE = N_META + N_FAMILY * len(FAMILY_ORDER) + 2


class FamilyPolicy(Protocol):
    """What the search asks of a trained policy (``automl.policy.StrategyPolicy``):
    the probability of each action (``FAMILY_ORDER``, then stop) given an observation."""

    def action_probabilities(self, observation: np.ndarray) -> np.ndarray: ...


def family_block(tried: bool, best: float | None, n: int, cost: float, reference: float,
                 baseline: float, time_left: float) -> list[float]:
    """One family's part of the observation (see the module docstring)."""
    span = reference - baseline
    relative = 0.0 if best is None else (1.0 if span <= 0 else (best - baseline) / span)
    return [float(tried), float(np.clip(relative, 0, 1)), min(n / 20, 1.0),
            float(np.clip(cost / max(time_left, 1e-6), 0, 1))]


def live_observation(features: np.ndarray, families: Mapping[str, Any], best: float,
                     baseline: float, elapsed: float, budget: float) -> np.ndarray:
    """The observation for a running search (``families``: name -> state with ``evaluations``
    and ``cost()``, as ``PipelineSearch`` keeps them)."""
    parts: list[float] = list(np.clip(np.nan_to_num(np.asarray(features, dtype="float64")
                                                    [:N_META], nan=0.0), 0, 1))
    time_left = max(budget - elapsed, 1e-6)
    for family in FAMILY_ORDER:
        state = families.get(family)
        evaluations = list(getattr(state, "evaluations", []) or [])
        family_best = max((e.score for e in evaluations), default=None)
        cost = state.cost() if state is not None and evaluations else 0.0
        parts += family_block(bool(evaluations), family_best, len(evaluations), cost, best,
                               baseline, time_left)
    parts += [float(np.clip(elapsed / budget, 0, 1)), float(np.clip(best - baseline, 0, 1))]
    return np.asarray(parts, dtype=np.float32)
