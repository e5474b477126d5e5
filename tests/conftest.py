"""Shared fixtures. Every test run gets its own HUB_HOME, also seen by kernels the tests start."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

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
