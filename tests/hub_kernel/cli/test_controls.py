"""``hub mode``, ``hub veto``, ``hub proposals`` and ``hub rollback layout|model|policy`` end to
end (rollback model: any earlier version back as champion, audited, nothing deleted)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from hub_kernel.cli import app
from hub_kernel.core.bus import default_bus
from hub_kernel.layout import Layout, Tile
from hub_kernel.models.registry import ModelRegistry
from hub_kernel.safety.audit import AuditLog
from hub_kernel.safety.governor import LayoutGovernor, Proposal
from hub_kernel.safety.modes import Controls
from hub_kernel.safety.versions import VersionStore

runner = CliRunner()


def layout() -> Layout:
    return Layout([Tile(id=f"t{i}", kind="overview", title=f"tile {i}") for i in range(4)])


def test_mode_and_veto_commands(hub_home):
    result = runner.invoke(app, ["mode", "set", "supervised", "--user", "ann", "--by", "lead"])
    assert result.exit_code == 0, result.output
    assert Controls().mode(user="ann") == "supervised"
    shown = runner.invoke(app, ["mode", "show", "--user", "ann"])
    assert "supervised" in shown.output
    bad = runner.invoke(app, ["mode", "set", "yolo"])
    assert bad.exit_code == 1 and "unknown autonomy mode" in bad.output
    assert runner.invoke(app, ["veto", "add", "remove", "--user", "ann"]).exit_code == 0
    assert "remove" in runner.invoke(app, ["veto", "list", "--user", "ann"]).output
    assert runner.invoke(app, ["veto", "remove", "remove", "--user", "ann"]).exit_code == 0
    assert Controls().vetoed(user="ann") == set()
    assert AuditLog().entries(action="set mode supervised")[-1].approved_by == "lead"


def test_approve_a_proposal_from_the_command_line(hub_home):
    gov = LayoutGovernor(layout(), user="ann", dashboard="sales")
    target = Layout([gov.layout[i] for i in ("t3", "t0", "t1", "t2")])
    decision = gov.submit(Proposal(agent="design", layout=target.to_dict(),
                                   explanation="t3 is liked"))
    assert decision.status == "pending"
    listed = runner.invoke(app, ["proposals", "list"])
    assert "t3 is liked" in listed.output and "ann/sales" in listed.output
    result = runner.invoke(app, ["proposals", "approve", str(decision.proposal_id),
                                 "--by", "ann"])
    assert result.exit_code == 0, result.output
    assert VersionStore().get("layout", "ann/sales").payload["tiles"][0]["id"] == "t3"
    again = runner.invoke(app, ["proposals", "approve", str(decision.proposal_id)])
    assert again.exit_code == 1 and "already approved" in again.output


def test_rollback_layout_restores_any_version_exactly(hub_home):
    gov = LayoutGovernor(layout(), user="ann", dashboard="sales")
    first = gov.layout.to_dict()
    gov.layout.move("t3", 0)
    gov.layout.pin("t3")
    gov.layout.remove("t1")
    listed = runner.invoke(app, ["rollback", "layout", "ann/sales", "--list"])
    assert listed.exit_code == 0 and "starting layout" in listed.output
    result = runner.invoke(app, ["rollback", "layout", "ann/sales", "--to", "1", "--by", "ann"])
    assert result.exit_code == 0, result.output
    assert VersionStore().get("layout", "ann/sales").payload == first
    assert len(VersionStore().history("layout", "ann/sales")) == 5  # nothing lost
    missing = runner.invoke(app, ["rollback", "layout", "ann/sales", "--to", "42"])
    assert missing.exit_code == 1 and "no version 42" in missing.output


def test_rollback_policy_puts_an_earlier_version_in_force_even_after_a_rollout(hub_home):
    from hub_kernel.safety.rollout import Rollout

    store = VersionStore()
    store.save("policy", "design", {"prior_strength": 2.0}, author="default", reason="v1")
    store.save("policy", "design", {"prior_strength": 9.0}, author="lead", reason="v2")
    rollout = Rollout("design")
    rollout.start(2, fraction=0.5, author="lead")
    running = runner.invoke(app, ["rollback", "policy", "design", "--to", "1"])
    assert running.exit_code == 1 and "rollout stop" in running.output
    rollout.complete("lead")
    assert rollout.assign("anyone") == 2
    result = runner.invoke(app, ["rollback", "policy", "design", "--to", "1", "--by", "ann"])
    assert result.exit_code == 0, result.output
    assert {rollout.assign(f"s{i}") for i in range(20)} == {1}
    assert AuditLog().entries(action="rollback policy design v2 -> v1")[-1].approved_by == "ann"


@pytest.mark.slow
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
