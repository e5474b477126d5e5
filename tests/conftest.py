"""Shared fixtures. Every test run gets its own HUB_HOME, also seen by kernels the tests start."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

# set before hub_kernel.core.config is imported anywhere, and inherited by nbval's kernels
os.environ["HUB_HOME"] = tempfile.mkdtemp(prefix="hub-test-home-")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no network from tests
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def hub_home(tmp_path, monkeypatch):
    """A fresh HUB_HOME for one test, with settings re-read."""
    from hub_kernel.core import config

    home = tmp_path / "hub-home"
    monkeypatch.setenv("HUB_HOME", str(home))
    config.reload_settings()
    yield home
    monkeypatch.undo()
    config.reload_settings()


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory):
    """An MLflow SQLite file with its tables created (a migration takes ~2 s: done once)."""
    from mlflow import MlflowClient

    from hub_kernel.models.tracking import quiet_mlflow

    quiet_mlflow()
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def models_home(hub_home, empty_store):
    """A fresh HUB_HOME whose MLflow store already has its tables."""
    hub_home.mkdir(parents=True, exist_ok=True)
    shutil.copy(empty_store, hub_home / "mlflow.db")
    return hub_home


def mixed_frame(n: int = 120, seed: int = 0) -> Any:
    """Every kind of column: numeric (with gaps), categorical, datetime, an id, free text,
    an all-missing column, and a binary target that depends on them."""
    import numpy as np
    import pandas as pd

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
def make_mixed():
    """``mixed_frame`` itself, for tests that need several tables (models, CLI)."""
    return mixed_frame
