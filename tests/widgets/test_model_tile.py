"""The model tile: Train searches within the budget and registers the winner; the tile then
shows its score beside the baseline's."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from hub_kernel.agents.plan import dashboard_id, model_tile
from hub_kernel.data import profile_dataset
from widgets.model_tile import ModelTile, model_name, quality


@dataclass
class Context:
    """What the dashboard hands a tile renderer (``widgets.tile_kinds.TileContext``)."""

    frame: pd.DataFrame
    target: str
    reports: list[tuple[str, float]] = field(default_factory=list)
    qualities: list[float] = field(default_factory=list)
    user: str = "ann"

    def __post_init__(self) -> None:
        self.tile = model_tile(self.target)
        self.profile = profile_dataset(self.frame)
        self.dashboard = dashboard_id(self.frame, self.target)

    def report(self, kind: str, value: float = 1.0) -> None:
        self.reports.append((kind, value))

    def quality(self, value: float) -> None:
        self.qualities.append(value)


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    n = 240
    x = rng.normal(size=n)
    return pd.DataFrame({"x": x, "noise": rng.normal(size=n),
                         "group": rng.choice(["a", "b"], n),
                         "y": 3 * x + rng.normal(scale=0.5, size=n)})


def test_quality_is_the_share_of_the_gap_to_perfect_closed():
    assert quality(0.5, 0.0) == 0.5
    assert quality(0.1, 0.4) == 0.0  # worse than the baseline: nothing
    assert quality(None, 0.2) is None


def test_train_registers_a_version_the_registry_lists(models_home, frame):
    from hub_kernel.models.registry import ModelRegistry

    ctx = Context(frame, "y")
    tile = ModelTile(ctx)
    assert "No model" in tile._summary.value
    tile.train(budget=3, wait=True)
    assert "hub-error" not in tile._status.value, tile._status.value
    name = model_name("y", ctx.dashboard)
    assert name in [m.name for m in ModelRegistry().list_models()]
    assert ("train", 1.0) in ctx.reports  # the round's task completion
    summary = tile._summary.value
    assert "r2" in summary and "hub-model-baseline" in summary and "x" in summary
    assert ctx.qualities and ctx.qualities[-1] > 0.5  # x explains most of y
    again = ModelTile(Context(frame, "y"))  # a later page finds the champion
    assert "v1" in again._summary.value


def test_training_errors_show_in_the_tile(models_home):
    ctx = Context(pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.0, None, 2.0]}), "y")
    tile = ModelTile(ctx)
    tile.train(budget=1, wait=True)
    assert "hub-error" in tile._status.value and "too few" in tile._status.value
    assert not tile._train.disabled
