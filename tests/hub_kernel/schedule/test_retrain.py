"""notebooks/retrain.ipynb, run by papermill as a scheduled job would be: on shifted data it
promotes a better challenger and holds a worse one; `hub status` and `hub doctor` report it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from hub_kernel.data import load_dataset
from hub_kernel.exceptions import ScheduleError
from hub_kernel.models.registry import ModelRegistry
from hub_kernel.schedule.retrain import retrain_pipeline
from hub_kernel.schedule.runner import execute
from hub_kernel.schedule.spec import JobSpec

NAME = "weather-temp_max"


@pytest.fixture
def batches(tmp_path):
    sample = load_dataset()
    early, late = sample.iloc[:730], sample.iloc[730:]
    summer = late[pd.to_datetime(late["date"]).dt.month.isin([6, 7, 8])]
    paths = {}
    for label, frame in {
        "first": early,
        # 70 summer days of later years: drifted (warmer, drier), too few rows to beat the
        # champion's 730: the challenger is worse
        "summer": summer.sample(n=70, random_state=0),
        # a warmer climate: temperatures 8 degrees up, more sun: the champion is outdated
        "shifted": late.assign(temp_max=late.temp_max + 8, temp_min=late.temp_min + 8,
                               weather=late.weather.replace({"rain": "sun"})),
    }.items():
        folder = tmp_path / label
        folder.mkdir()
        frame.to_csv(folder / "weather.csv", index=False)
        paths[label] = str(folder / "weather.csv")
    return paths


@pytest.mark.slow
def test_the_retrain_notebook_promotes_a_better_challenger_and_holds_a_worse_one(
        runs_home, repo, batches):
    created = retrain_pipeline(batches["first"], NAME, target="temp_max", drop_columns=["date"],
                               cv=3)
    assert created.outcome == "created" and created.champion_after == 1
    notebook = str(repo / "notebooks" / "retrain.ipynb")

    def scheduled(batch: str):
        spec = JobSpec("retrain", notebook, {"source": batches[batch], "model": NAME,
                                             "mode": "supervised", "cv": 3})
        record = execute(spec, trigger="schedule")
        assert record.status == "succeeded", record.error
        return record

    held = scheduled("summer")
    assert held.outcome == "held", held.summary
    summary = held.summary
    assert summary["drift"]["should_retrain"] and summary["challenger"] == 2
    assert summary["gate"]["action"] == "held" and "worse" in summary["gate"]["explanation"]
    assert ModelRegistry().get_model_info(NAME).champion == 1

    promoted = scheduled("shifted")
    assert promoted.outcome == "promoted", promoted.summary
    summary = promoted.summary
    assert summary["champion_before"] == 1 and summary["champion_after"] == 3
    assert summary["gate"]["p_value"] < 0.05
    assert summary["gate"]["challenger_metric"] < summary["gate"]["champion_metric"]  # mae
    info = ModelRegistry().get_model_info(NAME)
    assert info.champion == 3 and info.version(3).tags["hub.promoted_by"] == "ab_gate"
    written = json.loads(Path(summary["paths"]["json"]).read_text())
    assert written["outcome"] == "promoted"
    assert "**promoted**" in Path(summary["paths"]["markdown"]).read_text()
    assert "**promoted**" in Path(promoted.html).read_text().replace("<strong>", "**") \
        .replace("</strong>", "**")

    from mlflow import MlflowClient

    from hub_kernel.core.config import get_settings

    client = MlflowClient(tracking_uri=get_settings().tracking_uri)
    run = client.get_run(summary["mlflow_run_id"])
    assert run.data.tags["hub.outcome"] == "promoted" and run.data.tags["hub.kind"] == "retrain"
    scheduled_run = client.get_run(promoted.mlflow_run_id)
    assert scheduled_run.data.tags["hub.outcome"] == "promoted"

    from hub_kernel.safety.audit import AuditLog

    actions = [e.action for e in AuditLog().entries(agent="ab_gate")]
    assert f"held {NAME} v2" in actions and f"promoted {NAME} v3" in actions

    # the scheduled run's outcome and each champion's drift, as an operator sees them
    from hub_kernel.cli import app

    status = CliRunner().invoke(app, ["status"])
    assert status.exit_code == 0, status.output
    assert NAME in status.output and "current" in status.output  # v3 knows the newest batch


@pytest.mark.slow
def test_the_scheduled_notebook_searches_and_retrains_within_the_stored_budget(
        runs_home, repo, batches):
    notebook = str(repo / "notebooks" / "retrain.ipynb")

    def scheduled(batch: str, **extra):
        spec = JobSpec("retrain", notebook, {"source": batches[batch], "model": NAME,
                                             "target": "temp_max", "drop_columns": ["date"],
                                             "mode": "supervised", "cv": 3, **extra})
        record = execute(spec, trigger="schedule")
        assert record.status == "succeeded", record.error
        return record

    created = scheduled("first", search_budget_seconds=3)
    assert created.outcome == "created" and "searched 3 s, winner" in created.summary["reason"]
    first = ModelRegistry().get_model_info(NAME).version(1)
    assert float(first.tags["hub.search_budget"]) == 3.0 and first.tags["hub.search_winner"]

    scheduled("shifted")  # no budget given: the model's own is used
    retrained = ModelRegistry().get_model_info(NAME).version(2)
    assert float(retrained.tags["hub.search_budget"]) == 3.0
    assert retrained.tags["hub.retrained_from"] == "1"


@pytest.mark.slow
def test_no_new_data_changes_nothing_and_a_drifted_champion_is_reported(runs_home, batches):
    from hub_kernel.core.config import get_settings
    from hub_kernel.doctor import check_champions
    from hub_kernel.schedule.monitor import champion_drift

    retrain_pipeline(batches["first"], NAME, target="temp_max", drop_columns=["date"], cv=3)
    again = retrain_pipeline(None, NAME, log_to_mlflow=False)
    assert again.outcome == "no-change" and "no new batch" in again.reason
    (drift,) = champion_drift()
    assert drift.status == "current"
    from hub_kernel.data.catalog import Catalog

    Catalog().ingest(batches["shifted"], name="weather.csv")
    (drift,) = champion_drift()
    assert drift.status == "drifted" and "retrain recommended" in drift.detail
    check = check_champions(get_settings())
    assert check.status == "warn" and NAME in check.detail


def test_bad_input_is_a_clear_error(runs_home, batches):
    with pytest.raises(ScheduleError, match="unknown mode 'bold'"):
        retrain_pipeline(batches["first"], NAME, target="temp_max", mode="bold")
    with pytest.raises(ScheduleError, match="pass target=COLUMN to create it"):
        retrain_pipeline(batches["first"], NAME)
    with pytest.raises(ScheduleError, match="has no column 'nope'"):
        retrain_pipeline(batches["first"], NAME, target="nope")
    with pytest.raises(ScheduleError, match="invalid drift_ks_alpha=2"):
        retrain_pipeline(batches["first"], NAME, target="temp_max", drift_ks_alpha=2)
    with pytest.raises(ScheduleError, match="time_budget_seconds must be positive"):
        retrain_pipeline(batches["first"], NAME, target="temp_max", time_budget_seconds=0)
    assert ModelRegistry().list_models() == []


def test_a_batch_that_breaks_its_declared_schema_is_not_trained_on(runs_home, batches,
                                                                   tmp_path):
    from hub_kernel.data.catalog import Catalog
    from hub_kernel.data.validation import infer_schema

    catalog = Catalog()
    record = catalog.ingest(batches["first"]).record
    catalog.declare_schema(record.name, infer_schema(catalog.load(record.id)))
    broken = tmp_path / "broken" / "weather.csv"
    broken.parent.mkdir()
    frame = pd.read_csv(batches["first"]).head(50)
    frame["temp_max"] = "hot"
    frame.to_csv(broken, index=False)
    summary = retrain_pipeline(str(broken), NAME, target="temp_max", log_to_mlflow=False)
    assert summary.outcome == "invalid" and "breaks its declared schema" in summary.reason
    assert ModelRegistry().list_models() == []
    bundle = summary._repr_mimebundle_()
    assert bundle["application/vnd.hub.run+json"]["outcome"] == "invalid"
    assert bundle["text/markdown"].startswith(f"### Retrain `{NAME}`: **invalid**")
