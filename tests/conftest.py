"""Shared fixtures. Every test run gets its own HUB_HOME, also seen by kernels the tests start."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# set before hub_kernel.config is imported anywhere, and inherited by nbval's kernels
os.environ["HUB_HOME"] = tempfile.mkdtemp(prefix="hub-test-home-")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def hub_home(tmp_path, monkeypatch):
    """A fresh HUB_HOME for one test, with settings re-read."""
    from hub_kernel import config

    home = tmp_path / "hub-home"
    monkeypatch.setenv("HUB_HOME", str(home))
    config.reload_settings()
    yield home
    monkeypatch.undo()
    config.reload_settings()


@pytest.fixture
def repo() -> Path:
    return REPO
