"""How a pipeline search ends: whether its best beats the trivial baseline (and chance) over the
folds, a greedy ensemble of the best configurations when that scores better, else the best one
refit on all rows when the budget allows.

``FinalModel`` is the part of the search run (``run.SearchRun``) that makes this choice; it
reads the run's state, declared below.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from hub_kernel.automl.ensembles import FoldEnsemble, WeightedEnsemble, greedy_selection
from hub_kernel.automl.pipelines import config_pipeline
from hub_kernel.automl.results import Evaluation
from hub_kernel.automl.space import SCALED_FAMILIES
from hub_kernel.models.metrics import baseline_words

if TYPE_CHECKING:
    import pandas as pd

    from hub_kernel.models.features import FeaturePlan

logger = logging.getLogger("hub_kernel")


class FinalModel:
    """The end of a search run: the baseline test, the ensemble, the refit. Mixed into the run,
    whose state it reads."""

    ROUNDS = 25  # rounds of greedy ensemble selection
    SAFETY: float  # share of the budget kept for bookkeeping (the run's)
    # the run's state (set by the run's ``prepare`` and loop)
    search: Any  # the PipelineSearch: budget, refit, n_jobs, random_state, best_model_
    task: str
    metric: str
    metric_fn: Callable[[np.ndarray, np.ndarray], float] | None
    X: pd.DataFrame
    y: np.ndarray
    classes: np.ndarray | None
    plan: FeaturePlan
    folds: int
    n_rows: int
    width: dict[str, int]
    best: Evaluation | None
    evaluations: list[Evaluation]
    kept: dict[int, tuple[np.ndarray, FoldEnsemble]]
    baseline_score: float
    chance_score: float
    notes: list[str]

    def remaining(self) -> float:
        raise NotImplementedError

    def refit_seconds(self) -> float:
        raise NotImplementedError

    def openmp_threads(self) -> int:
        raise NotImplementedError

    def record(self, action: str, explanation: str, *, propensity: float | None = None,
                expected: float | None = None, observation: Any = None) -> None:
        raise NotImplementedError

    #: significance level of "the model beats the baseline"
    BEATS_ALPHA = 0.05

    def beats_baseline(self, combined_score: float | None) -> bool:
        """Whether the final model does better than the trivial baseline and than chance
        (guessing classes in their proportions), significantly: a one-sided t-test of the
        gain over the folds' spread, its p-value multiplied by the number of estimator
        families tried (configurations of one family are alike). On a target nothing
        predicts, the best of many configurations scores above the baseline by luck alone."""
        from scipy import stats

        assert self.best is not None
        score = combined_score if combined_score is not None else self.best.score
        gain = score - self.chance_score
        if gain <= 0:
            return False
        if self.best.std <= 0:
            return True
        dof = max(self.folds - 1, 1)
        p_value = float(stats.t.sf(gain / (self.best.std / math.sqrt(dof)), dof))
        tried = len({e.config.family for e in self.evaluations})
        return p_value * max(tried, 1) < self.BEATS_ALPHA

    def baseline_model(self) -> Any:
        """The trivial baseline fitted on all rows: the final model when nothing beats it."""
        from sklearn.dummy import DummyClassifier, DummyRegressor
        from sklearn.pipeline import Pipeline

        from hub_kernel.models.features import build_preprocessor

        assert self.best is not None
        dummy = (DummyClassifier(strategy="most_frequent") if self.task == "classification"
                 else DummyRegressor())
        model = Pipeline([("preprocess", build_preprocessor(self.plan)), ("model", dummy)])
        model.fit(self.X, self.y)
        chance = (f" and {self.chance_score:.4f} for guessing classes in their proportions"
                  if self.chance_score > self.baseline_score else "")
        self.notes.append(f"no model beats the baseline: the best configuration "
                          f"({self.best.config.label()}) scores {self.metric} "
                          f"{self.best.score:.4f} ± {self.best.std:.4f} against "
                          f"{self.baseline_score:.4f} for {baseline_words(self.task)}{chance}, "
                          "so the final model is that baseline")
        self.record("baseline", self.notes[-1], expected=self.baseline_score)
        with self.search._lock:
            self.search.best_model_ = model
        return model

    def combine(self) -> tuple[list[tuple[int, float]], float | None]:
        """Greedy ensemble selection with replacement over the kept evaluations' out-of-fold
        predictions: ([(evaluation index, weight)], score), or ([], None) when no combination
        beats the best configuration alone."""
        assert self.best is not None
        if self.metric_fn is None or len(self.kept) < 2 or self.best.index not in self.kept:
            return [], None
        metric_fn = self.metric_fn
        classes = self.classes

        def value(total: np.ndarray, count: int) -> float:
            mean = total / count
            if classes is not None:
                return float(metric_fn(self.y, classes[np.argmax(mean, axis=1)]))
            return float(metric_fn(self.y, mean))

        combined, score, single = greedy_selection(
            {i: oof for i, (oof, _) in self.kept.items()}, self.best.index, value,
            rounds=self.ROUNDS,
            keep_going=lambda: self.remaining() >= self.SAFETY * self.search.budget)
        if not combined:
            return [], None
        self.record("ensemble", "combining " + ", ".join(
            f"{self.evaluations[i - 1].config.label()} (weight {w:.2f})" for i, w in combined)
            + f": out-of-fold {self.metric} {score:.4f} against {single:.4f} for the best "
            "alone (greedy ensemble selection)", expected=score)
        return combined, score

    def ensemble_model(self, combined: list[tuple[int, float]]) -> WeightedEnsemble:
        return WeightedEnsemble([(w, self.kept[i][1]) for i, w in combined], self.task,
                                self.classes)

    def final_model(self) -> tuple[Any, bool]:
        assert self.best is not None
        ensemble = self.search.best_model_
        if not self.search.refit:
            return ensemble, False
        if self.refit_seconds() > self.remaining():
            self.notes.append("the best configuration was not refit on all rows (no time left):"
                              " its fold models predict together")
            return ensemble, False
        from threadpoolctl import threadpool_limits

        config = self.best.config
        width = self.width["onehot" if config.family in SCALED_FAMILIES else "ordinal"]
        model = config_pipeline(config, self.plan, self.task, seed=self.search.random_state,
                               n_jobs=max(1, int(self.search.n_jobs)), n_rows=self.n_rows,
                               n_features=width)
        try:
            with threadpool_limits(limits=self.openmp_threads(), user_api="openmp"):
                model.fit(self.X, self.y)
        except Exception as exc:
            logger.warning("refit of %s failed (%s); using its fold models", config.label(), exc)
            return ensemble, False
        with self.search._lock:
            self.search.best_model_ = model
        return model, True

