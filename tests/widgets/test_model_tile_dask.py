"""The dashboard's Train button on a Dask cluster (``HUB_DASK_ADDRESS``): the search runs on
the workers and the progress line says so."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hub_kernel.agents.plan import dashboard_id, model_tile
from hub_kernel.layout import Tile
from widgets import model_tile as mt


@dataclass
class Context:
    """The duck-typed ``TileContext`` the dashboard hands a tile kind."""

    tile: Tile
    frame: pd.DataFrame
    target: str | None
    dashboard: str
    profile: Any = None
    user: str = "tester"
    reports: list[tuple[str, float]] = field(default_factory=list)
    qualities: list[float] = field(default_factory=list)

    def report(self, kind: str, value: float = 1.0) -> None:
        self.reports.append((kind, value))

    def quality(self, value: float) -> None:
        self.qualities.append(value)


def _context(n: int = 200) -> Context:
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    frame = pd.DataFrame({"x": x, "colour": colour, "noise": rng.normal(size=n),
                          "rain": np.where(x + (colour == "red") * 2 > 0.8, "rain", "dry")})
    return Context(tile=model_tile("rain"), frame=frame, target="rain",
                   dashboard=dashboard_id(frame, "rain"))


@pytest.mark.slow
def test_train_runs_the_search_on_the_cluster_of_the_setting(models_home, monkeypatch):
    from hub_kernel.core import config
    from hub_kernel.models import ModelRegistry
    from hub_kernel.safety.audit import AuditLog

    monkeypatch.setenv("HUB_DASK_ADDRESS", "local:2")
    config.reload_settings()
    try:
        tile = mt.render(_context())
        assert isinstance(tile, mt.ModelTile)
        thread = tile.train(budget=4)
        assert thread is not None
        # before any result: what the setting says
        assert "searching on a local Dask cluster of 2 workers" in tile._bar_text.value
        tile.join(timeout=180)
        assert tile.error is None, tile.error
        assert tile._where == " on a Dask cluster of 2 workers"  # from the search itself
        listed = {m.name: m for m in ModelRegistry().list_models()}
        assert listed[tile.name].latest_version == 1
        evaluated = [e for e in AuditLog().entries(agent="strategy")
                     if e.action.startswith("evaluate:")]
        assert evaluated and all("on the Dask worker" in e.explanation for e in evaluated)
    finally:
        monkeypatch.undo()
        config.reload_settings()


def test_the_progress_line_is_unchanged_without_a_cluster(monkeypatch):
    from hub_kernel.core import config

    monkeypatch.delenv("HUB_DASK_ADDRESS", raising=False)
    config.reload_settings()
    assert mt.cluster_words() == ""
    assert mt.cluster_words(1) == " on a Dask cluster of 1 worker"
