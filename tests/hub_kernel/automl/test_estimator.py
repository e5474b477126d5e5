"""``PipelineSearch`` is a scikit-learn estimator: parameters, cloning, not fitted before fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from hub_kernel.automl.search import PipelineSearch


def test_parameters_are_stored_unchanged_and_settable():
    search = PipelineSearch(budget=3.0, families=["linear"], warm_start=False, name="x")
    params = search.get_params()
    assert params["budget"] == 3.0 and params["families"] == ["linear"]
    assert params["warm_start"] is False and params["name"] == "x"
    assert search.set_params(budget=7.5) is search and search.budget == 7.5
    copy = clone(search)
    assert copy.get_params()["budget"] == 7.5 and copy is not search
    with pytest.raises(ValueError):
        search.set_params(nope=1)


def test_predict_before_fit_is_not_fitted_then_predicts():
    search = PipelineSearch(budget=30, max_evaluations=1, families=["linear"], warm_start=False)
    X = pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40.0) % 3})
    y = pd.Series(np.where(X["a"] > 20, "hi", "lo"))
    with pytest.raises(NotFittedError):
        search.predict(X)
    result = search.fit(X, y)
    assert list(search.predict(X.head(3))) == list(result.predict(X.head(3)))
