"""Explanations: permutation importance of a fitted model, in numbers and in words.

``permutation_importance_report(model, X, y)`` shuffles each column of ``X`` in turn
(scikit-learn's ``permutation_importance``) and measures how much the model's score drops:
a column the model relies on costs a lot when shuffled, one it ignores costs nothing. The score
is the model's own (accuracy for a classifier, R² for a regressor) unless ``scoring`` names
another. Columns are the raw columns the pipeline takes, so the words match the user's data.

The trainer logs one for every version it registers (``HUB_IMPORTANCE_REPEATS`` shuffles per
column, on the cross-validation folds' held-out rows, at most ``HUB_IMPORTANCE_MAX_ROWS``):
metrics ``importance.<column>`` and the artifact ``hub/permutation_importance.json``.

scikit-learn and mlflow are imported inside the functions that use them.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hub_kernel.exceptions import ModelError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from mlflow import MlflowClient

logger = logging.getLogger("hub_kernel")

#: an importance below this is "barely matters" in the words of ``explain``
NEGLIGIBLE = 0.005
_MAX_METRICS = 50


@dataclass(frozen=True)
class FeatureImportance:
    """How much shuffling one column costs: the mean and std of the score drop."""

    feature: str
    mean: float
    std: float


@dataclass(frozen=True)
class PermutationImportance:
    """Permutation importance of every column, most important first."""

    importances: tuple[FeatureImportance, ...]
    scoring: str  # what the drop is measured in: "accuracy", "r2", or the scorer given
    n_repeats: int  # shuffles per column (over all folds, for the trainer's)
    n_rows: int

    @property
    def features(self) -> list[str]:
        """Column names, most important first."""
        return [f.feature for f in self.importances]

    def __getitem__(self, feature: str) -> FeatureImportance:
        for item in self.importances:
            if item.feature == feature:
                return item
        raise KeyError(feature)

    def to_frame(self) -> pd.DataFrame:
        """One row per column: feature, mean, std (most important first)."""
        import pandas as pd

        return pd.DataFrame([f.__dict__ for f in self.importances],
                            columns=["feature", "mean", "std"])

    def to_dict(self) -> dict[str, Any]:
        return {"scoring": self.scoring, "n_repeats": self.n_repeats, "n_rows": self.n_rows,
                "importances": [dict(f.__dict__) for f in self.importances]}

    def explain(self, top: int = 3) -> str:
        """The ranking in a sentence or two, e.g. "x drives the model most: shuffling it costs
        0.12 accuracy (± 0.02); then colour (0.05)."."""
        if not self.importances:
            return "the model has no columns to explain"
        what = self.scoring
        first = self.importances[0]
        if first.mean < NEGLIGIBLE:
            return (f"no column matters much: shuffling any one costs less than {NEGLIGIBLE:g} "
                    f"{what} (the model may rely on several redundant columns, or on none)")
        text = (f"{first.feature} drives the model most: shuffling it costs {first.mean:.2g} "
                f"{what} (± {first.std:.2g})")
        following = [f for f in self.importances[1:top] if f.mean >= NEGLIGIBLE]
        if following:
            text += "; then " + ", ".join(f"{f.feature} ({f.mean:.2g})" for f in following)
        idle = [f.feature for f in self.importances if f.mean < NEGLIGIBLE]
        if idle:
            shown = ", ".join(idle[:5]) + (f" and {len(idle) - 5} more" if len(idle) > 5 else "")
            text += f". {shown} barely matter{'s' if len(idle) == 1 else ''} (< {NEGLIGIBLE:g})"
        return text + "."


def from_importances(features: Sequence[str], importances: np.ndarray, *, scoring: str,
                     n_rows: int) -> PermutationImportance:
    """A report from a (columns x shuffles) array of score drops, sorted by mean drop."""
    import numpy as np

    values = np.asarray(importances, dtype="float64")
    if values.ndim != 2 or values.shape[0] != len(features):
        raise ModelError(f"importances of shape {values.shape} do not match {len(features)} "
                         "features")
    items = [FeatureImportance(str(f), float(np.mean(row)), float(np.std(row)))
             for f, row in zip(features, values, strict=True)]
    items.sort(key=lambda f: (-f.mean, f.feature))
    return PermutationImportance(tuple(items), scoring, int(values.shape[1]), int(n_rows))


def scoring_name(model: Any, scoring: str | None) -> str:
    """What a drop is measured in: ``scoring``, else the model's own score."""
    if scoring:
        return scoring
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(model):
        return "accuracy"
    if is_regressor(model):
        return "r2"
    return "score"


def permutation_importance_report(model: Any, X: pd.DataFrame, y: Any, *, n_repeats: int = 5,
                                  random_state: int | None = 0, scoring: str | None = None,
                                  max_rows: int | None = 5000,
                                  n_jobs: int | None = None) -> PermutationImportance:
    """Permutation importance of each column of ``X`` for the fitted ``model``.

    Rows above ``max_rows`` are sampled (seeded by ``random_state``). Measure it on rows the
    model did not train on to learn what generalizes; on training rows it shows what the
    model relies on. A model that cannot score these rows raises ``ModelError``.
    """
    import numpy as np
    import pandas as pd
    from sklearn.inspection import permutation_importance

    if n_repeats < 1:
        raise ModelError(f"n_repeats must be at least 1, not {n_repeats}")
    if not isinstance(X, pd.DataFrame):
        X = pd.DataFrame(X, columns=[f"x{i}" for i in range(np.asarray(X).shape[1])])
    target = np.asarray(y)
    if len(target) != len(X):
        raise ModelError(f"X has {len(X)} rows but y has {len(target)}")
    keep = ~pd.isna(target)
    X, target = X.loc[keep], target[keep]
    if len(X) < 2:
        raise ModelError("permutation importance needs at least 2 labelled rows")
    if max_rows is not None and len(X) > max_rows:
        rows = np.random.default_rng(random_state).choice(len(X), size=max_rows, replace=False)
        X, target = X.iloc[np.sort(rows)], target[np.sort(rows)]
    try:
        found = permutation_importance(model, X, target, scoring=scoring, n_repeats=n_repeats,
                                       random_state=random_state, n_jobs=n_jobs)
    except Exception as exc:
        detail = " ".join(str(exc).split())[:300]  # one line
        raise ModelError(f"permutation importance failed ({type(exc).__name__}: {detail}); give "
                         "the model the columns it was trained on and labelled rows") from exc
    return from_importances([str(c) for c in X.columns], found.importances,
                            scoring=scoring_name(model, scoring), n_rows=len(X))


def importance_metrics(report: PermutationImportance) -> dict[str, float]:
    """``importance.<column>`` (mean drop) for the top columns, as valid MLflow keys."""
    from hub_kernel.models.tracking import metric_key

    metrics: dict[str, float] = {}
    for item in report.importances[:_MAX_METRICS]:
        key = metric_key(f"importance.{item.feature}")
        while key in metrics:  # two names that read the same once cleaned
            key += "_"
        if math.isfinite(item.mean):
            metrics[key] = item.mean
    return metrics


def log_permutation_importance(report: PermutationImportance, run_id: str, *,
                               client: MlflowClient) -> None:
    """Log ``report`` into run ``run_id``: metrics ``importance.<column>`` (top 50) and the
    whole report as ``hub/permutation_importance.json``."""
    from mlflow.entities import Metric

    stamp = int(time.time() * 1000)
    metrics = [Metric(k, v, stamp, 0) for k, v in importance_metrics(report).items()]
    for i in range(0, len(metrics), 500):
        client.log_batch(run_id, metrics=metrics[i:i + 500])
    client.log_dict(run_id, {**report.to_dict(), "explanation": report.explain()},
                    "hub/permutation_importance.json")
