"""Fixtures for the scheduler tests: a fresh HUB_HOME with a ready MLflow store, fast heartbeats,
and the fixture notebooks (passing, failing, slow) in ``notebooks/``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"
# fixtures run by the scheduler in the tests (one fails on purpose), not notebooks for nbval
collect_ignore_glob = ["notebooks/*.ipynb"]


@pytest.fixture
def schedule_home(hub_home, monkeypatch):
    """A fresh HUB_HOME with quick heartbeats and retries."""
    from hub_kernel.core import config

    hub_home.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("HUB_SCHEDULER_HEARTBEAT_SECONDS", "0.2")
    monkeypatch.setenv("HUB_SCHEDULER_RETRY_BACKOFF_SECONDS", "0.1")
    monkeypatch.setenv("HUB_SCHEDULER_SHUTDOWN_GRACE_SECONDS", "20")
    config.reload_settings()
    return hub_home


@pytest.fixture
def runs_home(schedule_home, empty_store):
    """``schedule_home`` whose MLflow store already has its tables (runs are logged there)."""
    shutil.copy(empty_store, schedule_home / "mlflow.db")
    return schedule_home


@pytest.fixture
def notebooks() -> Path:
    return NOTEBOOKS


def _wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    """Poll ``predicate`` until it returns a true value; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _hub_process(*args: str, log: Path) -> subprocess.Popen:
    """``hub ARGS`` as a child process (environment inherited), output to ``log``."""
    handle = log.open("ab")
    return subprocess.Popen([sys.executable, "-m", "hub_kernel.cli", *args], stdout=handle,
                            stderr=subprocess.STDOUT, env=dict(os.environ))


@pytest.fixture
def wait_for():
    """``wait_for(predicate, timeout, what)``: poll until true, else fail the test."""
    return _wait_for


@pytest.fixture
def spawn_hub():
    """``spawn_hub(*args, log=path)`` starts ``hub ARGS``; processes left running are killed."""
    started: list[subprocess.Popen] = []

    def spawn(*args: str, log: Path) -> subprocess.Popen:
        process = _hub_process(*args, log=log)
        started.append(process)
        return process

    yield spawn
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
