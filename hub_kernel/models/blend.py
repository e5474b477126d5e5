"""``Blend``: several whole pipelines predicting together with fixed weights (averaged class
probabilities, or values), as one scikit-learn estimator the trainer can cross-validate, fit,
register and load like any pipeline. The strategy search's winning ensemble is registered as
one (``hub_kernel.models.searching``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone


class Blend(BaseEstimator):
    """A weighted blend of whole pipelines (each brings its own preprocessing).

    - ``estimators``: ``(name, pipeline)`` pairs, cloned at ``fit``;
    - ``weights``: one non-negative weight per pipeline (normalised to sum to one);
    - ``task``: ``classification`` (weighted class probabilities; a pipeline without
      ``predict_proba`` votes one-hot) or ``regression`` (weighted mean).
    """

    def __init__(self, estimators: Sequence[tuple[str, Any]] = (),
                 weights: Sequence[float] | None = None, task: str = "classification") -> None:
        self.estimators = estimators
        self.weights = weights
        self.task = task

    def __sklearn_tags__(self) -> Any:  # is_classifier / is_regressor follow the task
        from sklearn.utils import ClassifierTags, RegressorTags

        tags = super().__sklearn_tags__()
        if self.task == "classification":
            tags.estimator_type, tags.classifier_tags = "classifier", ClassifierTags()
        else:
            tags.estimator_type, tags.regressor_tags = "regressor", RegressorTags()
        return tags

    def _weights(self) -> np.ndarray:
        weights = np.asarray(self.weights if self.weights is not None
                             else [1.0] * len(self.estimators), dtype="float64")
        if len(weights) != len(self.estimators) or not len(weights) or (weights < 0).any() \
                or weights.sum() <= 0:
            raise ValueError(f"a blend needs one non-negative weight per pipeline, not "
                             f"{list(weights)} for {len(self.estimators)} pipelines")
        return weights / weights.sum()

    def fit(self, X: Any, y: Any) -> Blend:
        """Fit a clone of each pipeline on ``X``, ``y``."""
        self.weights_ = self._weights()
        self.estimators_ = [clone(estimator).fit(X, y) for _, estimator in self.estimators]
        if self.task == "classification":
            self.classes_ = np.unique(np.asarray(y))
        return self

    def _class_scores(self, model: Any, X: Any) -> np.ndarray:
        out = np.zeros((len(X), len(self.classes_)))
        if hasattr(model, "predict_proba"):
            out[:, np.searchsorted(self.classes_, model.classes_)] = model.predict_proba(X)
        else:
            out[np.arange(len(X)), np.searchsorted(self.classes_, model.predict(X))] = 1.0
        return out

    def predict_proba(self, X: Any) -> np.ndarray:
        """Weighted class probabilities (classification)."""
        if self.task != "classification":
            raise AttributeError("a regression blend has no predict_proba")
        return np.asarray(sum(w * self._class_scores(m, X)
                              for w, m in zip(self.weights_, self.estimators_, strict=True)))

    def predict(self, X: Any) -> np.ndarray:
        if self.task == "regression":
            return np.asarray(sum(w * np.asarray(m.predict(X), dtype="float64")
                                  for w, m in zip(self.weights_, self.estimators_,
                                                  strict=True)))
        return np.asarray(self.classes_[np.argmax(self.predict_proba(X), axis=1)])

    def score(self, X: Any, y: Any) -> float:
        """Accuracy (classification) or R² (regression), as scikit-learn's estimators."""
        from sklearn.metrics import accuracy_score, r2_score

        predicted = self.predict(X)
        if self.task == "regression":
            return float(r2_score(y, predicted))
        return float(accuracy_score(y, predicted))

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        names = ", ".join(name for name, _ in self.estimators)
        return f"Blend({names})"
