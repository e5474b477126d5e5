"""The whole model lifecycle through the `hub` command, on a real MLflow SQLite store:
train -> list -> show -> retrain -> A/B gate -> promote -> rollback -> drift-triggered
auto-retrain -> archive. Output is printed (run with -s to see it)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from hub_kernel.data import load_dataset
from hub_kernel.models.registry import ModelRegistry

pytestmark = pytest.mark.slow
runner = CliRunner()
NAME = "weather-temp_max"


def hub(*args: str, code: int = 0) -> str:
    from hub_kernel.cli import app

    result = runner.invoke(app, list(args))
    print(f"$ hub {' '.join(args)}\n{result.output}")
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def batches(tmp_path):
    sample = load_dataset().drop(columns=["date"])
    early, late = sample.iloc[:730], sample.iloc[730:]
    paths = {}
    for label, frame in {
        "first": early,
        "resample": early.sample(frac=1.0, replace=True, random_state=1),
        # newly labelled rows neither version trained on (the same climate, a later year)
        "holdout": late.sample(n=300, random_state=2),
        # a warmer climate: temperatures 8 degrees up, more sun
        "shifted": late.assign(temp_max=late.temp_max + 8, temp_min=late.temp_min + 8,
                               weather=late.weather.replace({"rain": "sun"})),
    }.items():
        folder = tmp_path / label
        folder.mkdir()
        frame.to_csv(folder / "weather.csv", index=False)
        paths[label] = str(folder / "weather.csv")
    return paths


def test_lifecycle_from_the_command_line(models_home, batches):
    out = hub("train", batches["first"], "--target", "temp_max", "--name", NAME, "--cv", "3")
    assert "version 1" in out and "champion" in out
    assert NAME in hub("models", "list")
    show = hub("models", "show", NAME)
    assert "r2" in show

    # a second version on the same data is a challenger; it cannot be promoted ungated
    hub("train", batches["resample"], "--target", "temp_max", "--name", NAME, "--cv", "3")
    refused = hub("models", "promote", NAME, "2", code=1)
    assert "has not passed the A/B gate" in refused
    refused = hub("models", "ab", NAME, batches["first"], code=1)
    assert "not used to train" in refused  # the gate never tests on training rows
    hub("models", "ab", NAME, batches["holdout"], "--mode", "assisted")
    registry = ModelRegistry()
    tags = registry.get_model_info(NAME).version(2).tags
    assert tags["hub.ab_champion"] == "1" and tags["hub.ab_decision"] in ("promote", "hold")
    assert registry.client.get_run(tags["hub.ab_run"]).data.tags["hub.kind"] == "ab_test"
    hub("models", "promote", NAME, "2", "--override", "--reason", "analyst review")
    assert registry.get_model_info(NAME).champion == 2
    hub("models", "rollback", NAME)
    assert registry.get_model_info(NAME).champion == 1

    # the newest batch (the labelled later rows) is the same climate: no drift, no retrain
    out = hub("models", "retrain", "--mode", "supervised")
    assert "skipped" in out and "no retrain needed" in out

    # a shifted batch of the same dataset: drift -> challenger -> gate -> promoted
    hub("ingest", batches["shifted"])
    out = hub("models", "retrain", "--mode", "supervised")
    assert "trained" in out and "promoted version 3" in out
    info = registry.get_model_info(NAME)
    assert info.champion == 3
    v3 = info.version(3)
    assert v3.tags["hub.promoted_by"] == "ab_gate"
    assert v3.tags["hub.ab_decision"] == "used"  # consumed by the promotion
    assert v3.tags["hub.ab_champion"] == "1"
    ab_run = registry.client.get_run(v3.tags["hub.ab_run"])
    assert ab_run.data.tags["hub.kind"] == "ab_test"
    assert ab_run.data.metrics["p_value"] < 0.05

    # every decision is in the audit log, with who approved it and why; the chain verifies
    from hub_kernel.safety.audit import AuditLog

    actions = [(e.agent, e.action) for e in AuditLog().entries()]
    assert ("ab_gate", f"promoted {NAME} v3") in actions
    assert ("ab_gate", f"promote {NAME} v3") in actions  # the promotion itself
    assert any(a == "person" and x.startswith(f"promote {NAME} v2") for a, x in actions)
    assert any(a == "person" and x.startswith(f"rollback {NAME}") for a, x in actions)
    assert any(a == "retrain_policy" and x == f"retrain {NAME}" for a, x in actions)
    assert "hash chain verified" in hub("audit", "verify")

    hub("models", "delete", NAME)
    assert NAME not in hub("models", "list")
    assert registry.load_model(NAME, version=1) is not None  # archived, never destroyed


def test_auto_retrain_in_assisted_mode_only_proposes(models_home, batches):
    hub("train", batches["first"], "--target", "temp_max", "--name", NAME, "--cv", "3")
    hub("ingest", batches["shifted"])
    out = hub("models", "retrain", "--mode", "assisted")
    assert "proposed version 2" in out
    info = ModelRegistry().get_model_info(NAME)
    assert info.champion == 1 and info.challenger == 2
    assert info.version(2).tags["hub.proposal"] == "promote"
    hub("models", "promote", NAME, "2")  # a person approves: the gate already said promote
    assert ModelRegistry().get_model_info(NAME).champion == 2
    # a gate decision is used once: after a rollback, version 2 must pass the gate again
    hub("models", "rollback", NAME)
    assert "has not passed the A/B gate" in hub("models", "promote", NAME, "2", code=1)
    # and a held challenger is not retrained again from the same batch
    assert "already trained on batch" in hub("models", "retrain", "--mode", "assisted")
