"""Fixtures for the model tests: a trainer and small tables (``models_home``, a fresh HUB_HOME
with a ready MLflow store, comes from tests/conftest.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def trainer(models_home):
    from hub_kernel.models import ModelTrainer

    return ModelTrainer(cv=3, n_jobs=1)


def mixed_frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """Every kind of column: numeric (with gaps), categorical, datetime, an id, free text,
    an all-missing column, and a binary target that depends on them."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    when = pd.date_range("2024-01-01", periods=n, freq="D")
    label = np.where(x + (colour == "red") * 1.5 + rng.normal(scale=0.3, size=n) > 0.5,
                     "yes", "no")
    frame = pd.DataFrame({
        "customer_id": np.arange(1000, 1000 + n),
        "x": x,
        "size": rng.integers(1, 5, size=n).astype(float),
        "colour": colour,
        "when": when,
        "comment": [f"free text number {i} {rng.integers(1e9)}" for i in range(n)],
        "empty": np.nan,
        "label": label,
    })
    frame.loc[::7, "x"] = np.nan
    frame.loc[::11, "colour"] = None
    return frame


@pytest.fixture
def mixed() -> pd.DataFrame:
    return mixed_frame()


@pytest.fixture
def make_mixed():
    """``mixed_frame`` itself, for tests that need several tables."""
    return mixed_frame


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
