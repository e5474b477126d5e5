"""``hub rollback model``: any earlier version back as champion, audited, nothing deleted."""

from __future__ import annotations

from typer.testing import CliRunner

from hub_kernel.cli import app
from hub_kernel.core.bus import default_bus
from hub_kernel.models.registry import ModelRegistry
from hub_kernel.safety.audit import AuditLog

runner = CliRunner()


def test_rollback_model_to_any_version(models_home, make_mixed):
    path = models_home / "customers.csv"
    make_mixed(90).to_csv(path, index=False)
    for _ in range(3):
        result = runner.invoke(app, ["train", str(path), "--target", "label", "--name", "churn",
                                     "--cv", "2"])
        assert result.exit_code == 0, result.output
    registry = ModelRegistry()
    assert registry.get_model_info("churn").champion == 1
    promoted = []
    default_bus().subscribe("model_promoted", lambda e: promoted.append(e.payload["version"]))
    result = runner.invoke(app, ["rollback", "model", "churn", "--to", "3", "--by", "ann"])
    assert result.exit_code == 0, result.output
    assert "champion is version 3" in result.output and promoted == [3]
    assert runner.invoke(app, ["rollback", "model", "churn"]).exit_code == 0
    info = registry.get_model_info("churn")
    assert info.champion == 1 and len(info.versions) == 3  # every version is still there
    again = runner.invoke(app, ["rollback", "model", "churn", "--to", "1"])
    assert again.exit_code == 1 and "already the champion" in again.output
    promotion = AuditLog().entries(action="promote churn v3")[-1]
    assert promotion.approved_by == "ann" and "rolled back to version 3" in promotion.explanation
