"""Metrics that fit the data: imbalanced classes are not scored by accuracy, and a named
scorer is checked against scikit-learn's and against the target."""

from __future__ import annotations

import numpy as np
import pytest

from hub_kernel.exceptions import ModelError
from hub_kernel.models.metrics import (
    check_metric,
    default_metric,
    is_imbalanced,
    minority_share,
)


def test_a_three_percent_target_is_scored_by_balanced_accuracy():
    y = np.array(["no"] * 97 + ["yes"] * 3)
    assert minority_share(y) == pytest.approx(0.03)
    assert is_imbalanced(y)
    assert default_metric(y, "classification") == "balanced_accuracy"


def test_balanced_classes_and_numbers_keep_their_defaults():
    assert default_metric(np.array([0, 1] * 50), "classification") == "f1_macro"
    # ten even classes of 10% each are not imbalanced: only an uneven share counts
    assert default_metric(np.repeat(np.arange(10), 10), "classification") == "f1_macro"
    assert default_metric(np.random.default_rng(0).normal(size=50), "regression") == "r2"


def test_any_scikit_learn_scorer_that_suits_the_target_is_accepted():
    assert check_metric("roc_auc", "classification", 2) == "roc_auc"
    assert check_metric("neg_mean_absolute_error", "regression") == "neg_mean_absolute_error"
    assert check_metric("matthews_corrcoef") == "matthews_corrcoef"


@pytest.mark.parametrize(("name", "task", "classes", "message"), [
    ("acuracy", None, None, "unknown metric 'acuracy': did you mean accuracy"),
    ("nope", "regression", None, "such as r2, neg_root_mean_squared_error"),
    ("r2", "classification", 2, "'r2' scores regression, but the target is a classification"),
    ("roc_auc", "classification", 3, "use e.g. roc_auc_ovr"),
])
def test_an_unfitting_metric_is_refused_with_valid_names(name, task, classes, message):
    with pytest.raises(ModelError, match=message):
        check_metric(name, task, classes)
