"""Metrics that fit the data: the default score of a target, and checking a named scorer.

``default_metric(y, task)`` is what a search or a training is scored by when the user names
none:

- regression: ``r2``;
- classification with balanced enough classes: ``f1_macro`` (as before);
- **imbalanced** classification (``is_imbalanced``: the rarest class holds under 20% of the rows
  for two classes; for k classes, under 40% of an even share, ``0.4 / k``): ``balanced_accuracy``.

Why balanced accuracy rather than ROC AUC: on 3% positives "always no" scores 0.97 accuracy but
exactly 0.5 balanced accuracy (1/k for k classes), so the majority-class baseline sits at chance
and any gain over it is real; it judges the labels a model actually predicts (as the users of a
prediction see them) and needs no probability, so every estimator family, multi-class targets
and the search's fast out-of-fold ensembles (``automl.scoring.metric_function``) all work with
it. ROC AUC ranks probabilities: it can be named (``metric="roc_auc"``) when a ranking is what
matters.

``check_metric(name, task, n_classes)`` accepts any scikit-learn scorer name
(``sklearn.metrics.get_scorer_names()``) that suits the task, and otherwise raises
``ModelError`` listing a few valid names.
"""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np
import pandas as pd

from hub_kernel.exceptions import ModelError

#: minority share under which two classes are imbalanced (k classes: ``2 * this / k``)
IMBALANCED_SHARE = 0.20
#: what each task is scored by on balanced data, and on imbalanced classes
BALANCED_METRIC = {"classification": "f1_macro", "regression": "r2"}
IMBALANCED_METRIC = "balanced_accuracy"
#: scorers shown as examples in error messages
EXAMPLES = {"classification": ("balanced_accuracy", "f1_macro", "accuracy", "roc_auc"),
            "regression": ("r2", "neg_root_mean_squared_error", "neg_mean_absolute_error")}
_REGRESSION_PREFIXES = ("r2", "explained_variance", "max_error", "neg_max_error", "neg_mean_",
                        "neg_root_mean_", "neg_median_", "d2_")
_CLASSIFICATION_PREFIXES = ("accuracy", "balanced_accuracy", "top_k_accuracy",
                            "average_precision", "neg_brier_score", "neg_log_loss", "f1",
                            "precision", "recall", "jaccard", "roc_auc", "matthews_corrcoef")
#: scorers for two classes only (their averaged variants serve more)
_BINARY_ONLY = {"f1", "precision", "recall", "jaccard", "roc_auc", "average_precision",
                "neg_brier_score"}


def class_shares(y: Any) -> pd.Series:
    """Share of the rows in each class, largest first (missing values left out)."""
    series = y if isinstance(y, pd.Series) else pd.Series(np.ravel(np.asarray(y)))
    return series.dropna().value_counts(normalize=True)


def minority_share(y: Any) -> float:
    """The share of the rows in the rarest class (1.0 for one class or none)."""
    shares = class_shares(y)
    return float(shares.iloc[-1]) if len(shares) >= 2 else 1.0


def is_imbalanced(y: Any) -> bool:
    """Whether the rarest class holds under 20% of the rows (two classes), or under 40% of
    an even share for k classes (``0.4 / k``)."""
    shares = class_shares(y)
    k = len(shares)
    return k >= 2 and float(shares.iloc[-1]) < IMBALANCED_SHARE * 2 / k


def default_metric(y: Any, task: str) -> str:
    """The scikit-learn scorer name ``y`` is judged by when none is named: ``r2`` for
    regression, ``balanced_accuracy`` for imbalanced classes, else ``f1_macro``."""
    if task == "regression":
        return BALANCED_METRIC["regression"]
    return IMBALANCED_METRIC if is_imbalanced(y) else BALANCED_METRIC["classification"]


def metric_task(name: str) -> str | None:
    """The task a scorer name is for (``classification``/``regression``), None when it is
    neither's alone (clustering scores)."""
    if name.startswith(_REGRESSION_PREFIXES):
        return "regression"
    if name.startswith(_CLASSIFICATION_PREFIXES):
        return "classification"
    return None


def check_metric(name: str, task: str | None = None, n_classes: int | None = None) -> str:
    """``name`` when it is a scikit-learn scorer that suits ``task`` (and ``n_classes``),
    else ``ModelError`` saying why and listing a few valid names."""
    from sklearn.metrics import get_scorer_names

    names = set(get_scorer_names())
    examples = EXAMPLES.get(task or "", EXAMPLES["classification"] + EXAMPLES["regression"])
    if name not in names:
        close = difflib.get_close_matches(name, sorted(names), n=3)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise ModelError(f"unknown metric {name!r}: {hint}use a scikit-learn scorer name such "
                         f"as {', '.join(examples)} (all: sklearn.metrics.get_scorer_names())")
    meant = metric_task(name)
    if task is not None and meant is not None and meant != task:
        raise ModelError(f"metric {name!r} scores {meant}, but the target is a {task} target: "
                         f"use e.g. {', '.join(EXAMPLES[task])}")
    if task == "classification" and n_classes is not None and n_classes > 2 \
            and name in _BINARY_ONLY:
        instead = [n for n in (f"{name}_ovr", f"{name}_macro") if n in names]
        raise ModelError(f"metric {name!r} is for two classes and the target has {n_classes}: "
                         f"use e.g. {' or '.join([*instead, 'balanced_accuracy'])}")
    return name


def baseline_words(task: str) -> str:
    """The trivial baseline in words."""
    return ("always predicting the most common class" if task == "classification"
            else "always predicting the mean")
