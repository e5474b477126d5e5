"""The model tile: it shows the champion against the baseline, and Train registers a version."""

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


def _frame(n: int = 160, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    noise = rng.normal(size=n)
    rain = np.where(x + (colour == "red") * 2 > 0.8, "rain", "dry")
    return pd.DataFrame({"x": x, "colour": colour, "noise": noise, "rain": rain})


def _context(frame: pd.DataFrame, target: str = "rain") -> Context:
    return Context(tile=model_tile(target), frame=frame, target=target,
                   dashboard=dashboard_id(frame, target))


def _text(tile: mt.ModelTile) -> str:
    return tile._info.value + tile._message.value


def test_train_registers_a_version_the_registry_lists_and_the_tile_shows_it(models_home):
    from hub_kernel.models import ModelRegistry

    frame = _frame()
    ctx = _context(frame)
    tile = mt.render(ctx)
    assert isinstance(tile, mt.ModelTile)
    assert "No model of this target yet" in _text(tile)
    assert "hub-train" in tile.button._dom_classes
    assert "hub-budget" in tile.budget._dom_classes and tile.budget.value == 10
    assert ctx.qualities == []  # nothing to judge before a model exists

    thread = tile.train(budget=3)
    assert thread is not None and tile.button.disabled
    assert tile.train(budget=3) is None  # one training at a time
    tile.join(timeout=180)
    assert not thread.is_alive()
    assert tile.error is None, tile.error

    listed = {m.name: m for m in ModelRegistry().list_models()}
    assert tile.name in listed
    assert listed[tile.name].latest_version == 1 and listed[tile.name].champion == 1
    result = tile.last_result
    assert result.version == 1 and result.primary_metric == "f1_macro"
    # the trainer's one path: the search's winner is the version, its budget kept on it
    assert result.search is not None and result.budget == 3

    text = _text(tile)
    assert f"{result.score:.3f}" in text  # the held-out score
    task, metric, baseline = mt.baseline_of(frame, "rain")
    assert (task, metric) == ("classification", "f1_macro")
    assert f"{baseline:.3f}" in text and "most common class" in text
    assert result.score > baseline + 0.2  # x and colour decide rain: far above the baseline
    assert "Top predictors" in text and text.index("<li>x") < text.index("<li>noise")
    assert ctx.reports == [("train", 1.0)]
    assert ctx.qualities[-1] == pytest.approx(mt.quality_of(result.score, baseline))
    assert 0.3 < ctx.qualities[-1] <= 1.0
    assert "done in" in tile._bar_text.value and "version 1 (champion)" in tile._bar_text.value

    # a second training is the challenger: the tile shows both, the champion first
    tile.train(budget=2)
    tile.join(timeout=180)
    assert tile.error is None, tile.error
    assert {m.name: m for m in ModelRegistry().list_models()}[tile.name].latest_version == 2
    text = _text(tile)
    assert "v1 (champion)" in text and "v2 (challenger)" in text
    assert text.index("v1 (champion)") < text.index("v2 (challenger)")

    # a new page on the same data finds the model without training
    again = mt.render(_context(frame))
    assert "v1 (champion)" in _text(again) and again._info.value.count("hub-model-baseline") == 2


def test_a_target_with_one_class_shows_the_error_in_the_tile_escaped(models_home):
    frame = _frame().assign(**{"<b>odd</b>": "same"})
    ctx = _context(frame, "<b>odd</b>")
    tile = mt.render(ctx)
    assert "hub-error" in tile._message.value
    assert "<b>odd</b>" not in tile._message.value and "&lt;b&gt;odd&lt;/b&gt;" in \
        tile._message.value
    tile.train(budget=2)
    tile.join(timeout=60)
    assert tile.error and "hub-error" in tile._message.value
    assert not tile.button.disabled and ctx.reports == []


def test_no_labelled_rows_is_an_error_not_a_crash(models_home):
    frame = _frame().assign(rain=np.nan)
    ctx = _context(frame)
    tile = mt.render(ctx)
    tile.train(budget=2)
    tile.join(timeout=60)
    assert "hub-error" in tile._message.value and "rain" in tile.error
    assert ctx.reports == []


def test_regression_baseline_is_the_mean_and_quality_maps_the_gain():
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    frame = pd.DataFrame({"x": x, "y": 3 * x + rng.normal(scale=0.1, size=200)})
    task, metric, baseline = mt.baseline_of(frame, "y")
    assert (task, metric) == ("regression", "r2") and -0.1 < baseline <= 0.0
    assert mt.quality_of(0.5, 0.0) == pytest.approx(0.5)
    assert mt.quality_of(0.2, 0.4) == 0.0  # worse than the baseline
    assert mt.quality_of(1.0, 0.4) == 1.0
    assert mt.quality_of(0.9, 1.0) == 0.0
    assert mt.model_name("dash-abc", "a b/c") == "dash-abc-a-b-c"


def test_the_tile_names_the_columns_left_out_as_leaks_escaped(models_home):
    frame = _frame()
    frame["<i>rain_flag</i>"] = np.where(frame["rain"] == "rain", 1, 0)
    tile = mt.render(_context(frame))
    text = _text(tile)
    assert "No model of this target yet" in text
    assert "Left out as leaks: &lt;i&gt;rain_flag&lt;/i&gt;" in text
    assert "<i>rain_flag</i>" not in text


def test_the_baseline_is_in_the_metric_of_the_model_shown():
    frame = _frame()
    assert mt.baseline_of(frame, "rain", metric="balanced_accuracy")[1:] == (
        "balanced_accuracy", 0.5)
    html = mt.model_html([mt.ShownModel("m", 1, ("champion",), "balanced_accuracy", 0.8, ())],
                         "classification", {"balanced_accuracy": 0.5, "f1_macro": 0.4})
    assert "balanced_accuracy 0.800</span> held out" in html
    assert "against <span class='hub-model-baseline'>0.500</span>" in html
