"""Fixtures shared by the data tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def limits(monkeypatch):
    """Set HUB_* settings for one test: ``limits(max_columns=10)``."""
    from hub_kernel.core import config

    def apply(**values: object) -> None:
        for key, value in values.items():
            monkeypatch.setenv(f"HUB_{key.upper()}", str(value))
        config.reload_settings()

    yield apply
    monkeypatch.undo()
    config.reload_settings()
