from dataclasses import dataclass, field

import pandas as pd
import pytest

from hub_kernel.data import load_dataset
from hub_kernel.models.lifecycle.drift import drift_report
from widgets.models import (
    ModelCard,
    history_from_info,
    metric_history_data,
    metric_history_figure,
    metric_history_widget,
    model_card_html,
    model_card_with_history,
)

HOSTILE = "<script>alert(1)</script>"


def info(name="weather-clf"):
    return {
        "name": name,
        "primary_metric": "accuracy",
        "champion": "2",
        "challenger": "3",
        "versions": [
            {"version": "3", "metrics": {"accuracy": 0.93, "f1": 0.9}, "aliases": [],
             "created": "2026-11-03T09:00:00"},
            {"version": "1", "metrics": {"accuracy": 0.81, "f1": 0.78}, "aliases": []},
            {"version": "2", "metrics": {"accuracy": 0.9, "f1": 0.87}, "aliases": ["champion"],
             "created": "2026-11-02T09:00:00"},
        ],
    }


def test_card_shows_the_champion_version_metrics_and_aliases():
    html = model_card_html(info())
    assert "hub-model-card-body" in html and "weather-clf" in html
    assert "version <b>2</b>" in html and "3 versions" in html
    assert "hub-alias-champion" in html and "challenger: v3" in html
    assert html.index("accuracy") < html.index("f1")  # primary metric first
    assert "0.9<" in html and "Drift: not checked yet" in html


def test_card_escapes_hostile_names():
    hostile = info(HOSTILE)
    hostile["versions"][2]["metrics"] = {HOSTILE: 0.5, "accuracy": 0.9}
    hostile["versions"][2]["aliases"] = ["champion", "<b>x</b>"]
    hostile["description"] = "<img src=x onerror=alert(1)>"
    html = model_card_html(hostile)
    assert "<script>" not in html and "<img" not in html and "<b>x</b>" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2  # name and metric name
    card = ModelCard(hostile)
    assert "hub-model-card" in card._dom_classes and "<script>" not in card.value


def test_card_accepts_a_dataclass_and_no_versions():
    @dataclass
    class Version:
        version: int
        metrics: dict = field(default_factory=dict)
        aliases: list = field(default_factory=list)

    @dataclass
    class Info:
        name: str
        versions: list
        champion: int | None = None
        primary_metric: str | None = None

    html = model_card_html(Info("m", [Version(1, {"rmse": 2.5}), Version(2, {"rmse": 2.1})]))
    assert "version <b>2</b>" in html and "rmse" in html  # no champion: the newest
    assert "No registered versions yet" in model_card_html({"name": "empty", "versions": []})


def test_card_shows_drift_status():
    frame = load_dataset()
    stable = drift_report(frame, frame.sample(500, random_state=0))
    assert "hub-drift-ok" in model_card_html(info(), stable)
    shifted = frame.assign(temp_max=frame["temp_max"] + 5, temp_min=frame["temp_min"] + 5)
    card = ModelCard(info(), drift_report(frame, shifted))
    assert "hub-drift-alert" in card.value and "retrain recommended (data drift)" in card.value
    assert "2 of 5 features drifted" in card.value
    card.show(info(), stable)
    assert "hub-drift-ok" in card.value


def test_history_figure_has_one_point_per_version():
    history = history_from_info(info())
    assert set(history.columns) == {"version", "metric", "value", "alias"}
    metric, data = metric_history_data(history, "accuracy")
    assert metric == "accuracy"
    assert data["version"] == ["1", "2", "3"] and data["value"] == [0.81, 0.9, 0.93]
    assert data["champion"] == [False, True, False]
    fig = metric_history_figure(history, "accuracy")
    versions = fig.select(name="versions")[0].data_source.data
    assert list(versions["version"]) == ["1", "2", "3"]
    champion = fig.select(name="champion")[0].data_source.data
    assert list(champion["version"]) == ["2"]
    assert fig.yaxis[0].axis_label == "accuracy"


def test_history_from_records_sorts_versions_numerically_and_defaults_the_metric():
    records = [{"version": v, "metric": "rmse", "value": 10.0 - v, "alias": None}
               for v in (10, 9, 1)]
    records.append({"version": 2, "metric": "mae", "value": 1.0, "alias": "champion"})
    metric, data = metric_history_data(records)
    assert metric == "rmse" and data["version"] == ["1", "9", "10"]
    fig = metric_history_figure(pd.DataFrame(records), "mae")
    assert list(fig.select(name="champion")[0].data_source.data["version"]) == ["2"]
    assert metric_history_data([])[1]["version"] == []
    with pytest.raises(ValueError, match="columns"):
        metric_history_data([{"metric": "x"}])


def test_widgets_build_without_a_kernel():
    chart = metric_history_widget(history_from_info(info()), "accuracy")
    assert "hub-metric-history" in chart._dom_classes
    tile = model_card_with_history(info())
    assert "hub-model-tile" in tile._dom_classes and len(tile.children) == 2
