"""How the search scores a configuration: scikit-learn scorers, and fast metrics computed from
(targets, predictions) that out-of-fold predictions and ensembles can share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd


def metric_function(metric: str, task: str) -> Callable[[np.ndarray, np.ndarray], float] | None:
    """``metric`` computed from (targets, predictions), for metrics that need only labels or
    values; None for the others (e.g. roc_auc), which then use the scorer and no ensemble."""
    from sklearn import metrics

    def accuracy(t: Any, p: Any) -> float:  # sklearn's checks cost more than the sum
        return float(np.mean(np.asarray(t) == np.asarray(p)))

    def r2(t: Any, p: Any) -> float:
        t, p = np.asarray(t, dtype="float64"), np.asarray(p, dtype="float64")
        total = float(np.sum((t - t.mean()) ** 2))
        return 1.0 - float(np.sum((t - p) ** 2)) / total if total > 0 else 0.0

    label_metrics: dict[str, Callable[[Any, Any], float]] = {
        "accuracy": accuracy,
        "balanced_accuracy": metrics.balanced_accuracy_score,
        "f1_macro": lambda t, p: metrics.f1_score(t, p, average="macro"),
        "f1_weighted": lambda t, p: metrics.f1_score(t, p, average="weighted"),
        "f1_micro": lambda t, p: metrics.f1_score(t, p, average="micro"),
    }
    value_metrics: dict[str, Callable[[Any, Any], float]] = {
        "r2": r2,
        "neg_mean_absolute_error": lambda t, p: -metrics.mean_absolute_error(t, p),
        "neg_mean_squared_error": lambda t, p: -metrics.mean_squared_error(t, p),
        "neg_root_mean_squared_error": lambda t, p: -metrics.root_mean_squared_error(t, p),
        "neg_median_absolute_error": lambda t, p: -metrics.median_absolute_error(t, p),
    }
    if task == "classification" and metric in label_metrics:
        return label_metrics[metric]
    if task == "regression" and metric in value_metrics:
        return value_metrics[metric]
    return None


def scorer_for(metric: str, task: str | None = None, n_classes: int | None = None) -> Any:
    """The scikit-learn scorer named ``metric``; ``ModelError`` for an unknown name or one
    that does not suit ``task`` (``models.metrics.check_metric``)."""
    from sklearn.metrics import get_scorer

    from hub_kernel.models.metrics import check_metric

    return get_scorer(check_metric(metric, task, n_classes))


def baseline_score(task: str, X: pd.DataFrame, y: np.ndarray,
                   splits: Sequence[tuple[np.ndarray, np.ndarray]], scorer: Any,
                   strategy: str = "most_frequent") -> float:
    """The cross-validated score of always predicting the most common class (or the mean);
    with ``strategy="stratified"``, of guessing classes at random in their proportions (what
    chance scores on metrics such as macro F1, where that beats the most common class)."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    dummy = (DummyClassifier(strategy=strategy, random_state=0)
             if task == "classification" else DummyRegressor())
    scores = []
    for train, test in splits:
        model = dummy.fit(X.iloc[train], y[train])
        scores.append(float(scorer(model, X.iloc[test], y[test])))
    return float(np.mean(scores))
