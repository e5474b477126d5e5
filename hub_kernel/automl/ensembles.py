"""Ensembles of fitted pipelines: the fold models of one configuration (``FoldEnsemble``) and
several configurations weighted by greedy ensemble selection (``WeightedEnsemble``,
``greedy_selection``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np


class FoldEnsemble:
    """The models fitted on the cross-validation folds, predicting together (averaged
    probabilities or values, or a vote): the best model so far, available without a refit."""

    def __init__(self, estimators: Sequence[Any], task: str) -> None:
        self.estimators = list(estimators)
        self.task = task
        if task == "classification":
            self.classes_ = np.unique(np.concatenate([np.asarray(e.classes_)
                                                      for e in self.estimators]))

    def predict(self, X: Any) -> np.ndarray:
        if self.task == "regression":
            return np.mean([e.predict(X) for e in self.estimators], axis=0)
        if all(hasattr(e, "predict_proba") for e in self.estimators):
            return np.asarray(self.classes_[np.argmax(self.predict_proba(X), axis=1)])
        votes = np.zeros((len(X), len(self.classes_)))
        for estimator in self.estimators:
            index = np.searchsorted(self.classes_, estimator.predict(X))
            votes[np.arange(len(X)), index] += 1
        return np.asarray(self.classes_[np.argmax(votes, axis=1)])

    def predict_proba(self, X: Any) -> np.ndarray:
        total = np.zeros((len(X), len(self.classes_)))
        for estimator in self.estimators:
            columns = np.searchsorted(self.classes_, estimator.classes_)
            total[:, columns] += estimator.predict_proba(X)
        return total / len(self.estimators)

    def class_scores(self, X: Any, classes: np.ndarray) -> np.ndarray:
        """Per row and class of ``classes``: mean probability, or share of votes for models
        without probabilities."""
        return np.mean([class_scores(e, X, classes) for e in self.estimators], axis=0)

    def __repr__(self) -> str:
        return f"FoldEnsemble({len(self.estimators)} fold models)"


def class_scores(model: Any, X: Any, classes: np.ndarray) -> np.ndarray:
    """A fitted classifier's probabilities over ``classes`` (a one-hot vote if it has none)."""
    out = np.zeros((len(X), len(classes)))
    if hasattr(model, "predict_proba"):
        out[:, np.searchsorted(classes, model.classes_)] = model.predict_proba(X)
    else:
        out[np.arange(len(X)), np.searchsorted(classes, model.predict(X))] = 1.0
    return out


class WeightedEnsemble:
    """Several configurations' fold models predicting together, with weights chosen by
    greedy ensemble selection on their out-of-fold predictions (Caruana et al., 2004)."""

    def __init__(self, members: Sequence[tuple[float, FoldEnsemble]], task: str,
                 classes: np.ndarray | None = None) -> None:
        self.members = list(members)
        self.task = task
        if classes is not None:
            self.classes_ = classes

    def predict(self, X: Any) -> np.ndarray:
        if self.task == "regression":
            return np.asarray(sum(w * m.predict(X) for w, m in self.members))
        scores = sum(w * m.class_scores(X, self.classes_) for w, m in self.members)
        return np.asarray(self.classes_[np.argmax(scores, axis=1)])

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.asarray(sum(w * m.class_scores(X, self.classes_) for w, m in self.members))

    def __repr__(self) -> str:
        return f"WeightedEnsemble({len(self.members)} configurations)"



def greedy_selection(oofs: Mapping[int, np.ndarray], first: int,
                     value: Callable[[np.ndarray, int], float], *, rounds: int,
                     keep_going: Callable[[], bool]) -> tuple[list[tuple[int, float]], float,
                                                              float]:
    """Greedy ensemble selection with replacement over out-of-fold predictions ``oofs`` (by
    evaluation index), starting from ``first``; ``value(summed predictions, count)`` scores a
    combination. Returns ([(index, weight)], its value, the value of ``first`` alone); the list
    is empty when no combination beats ``first`` alone."""
    chosen = [first]
    total = oofs[first].copy()
    best_value = value(total, 1)
    single = best_value
    for _ in range(rounds):
        if not keep_going():
            break
        trials = {i: value(total + oof, len(chosen) + 1) for i, oof in oofs.items()}
        pick = max(trials, key=lambda i: (trials[i], -i))
        if trials[pick] < best_value - 1e-12:
            break
        chosen.append(pick)
        total = total + oofs[pick]
        best_value = max(best_value, trials[pick])
    # the prefix of picks with the best value (later ties add nothing)
    values, running = [], oofs[chosen[0]].copy()
    values.append(value(running, 1))
    for k, i in enumerate(chosen[1:], start=2):
        running = running + oofs[i]
        values.append(value(running, k))
    cut = int(np.argmax(values)) + 1
    picks = chosen[:cut]
    if len(set(picks)) < 2 or values[cut - 1] <= single + 1e-9:
        return [], single, single
    weights = {i: picks.count(i) / len(picks) for i in dict.fromkeys(picks)}
    combined = sorted(weights.items(), key=lambda kv: -kv[1])
    return combined, float(values[cut - 1]), single
