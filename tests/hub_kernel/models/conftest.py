"""Fixtures for the model tests: a trainer and small tables (``models_home``, a fresh HUB_HOME
with a ready MLflow store, and ``make_mixed`` come from tests/conftest.py)."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture
def trainer(models_home):
    from hub_kernel.models import ModelTrainer

    return ModelTrainer(cv=3, n_jobs=1)


@pytest.fixture
def mixed(make_mixed) -> pd.DataFrame:
    return make_mixed()


@pytest.fixture
def diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    return load_diabetes(as_frame=True).frame.head(150)


@pytest.fixture
def iris() -> pd.DataFrame:
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    frame["species"] = frame.pop("target").map({0: "setosa", 1: "versicolor", 2: "virginica"})
    return frame
