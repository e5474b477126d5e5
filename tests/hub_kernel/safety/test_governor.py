"""The governor: modes, approval, undo, vetoes, pins and locks, versions, failures."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub_kernel.layout import Layout, Tile
from hub_kernel.safety.audit import AuditLog
from hub_kernel.safety.governor import LayoutGovernor, Proposal, ProposalError, diff
from hub_kernel.safety.modes import Controls, ModeError
from hub_kernel.safety.versions import VersionError, VersionStore


def tiles(n: int = 5, pinned: tuple[int, ...] = (), locked: tuple[int, ...] = ()) -> list[Tile]:
    return [Tile(id=f"t{i}", kind="chart", title=f"tile {i}", columns=(f"c{i}",),
                 chart_type="histogram", pinned=i in pinned, locked=i in locked)
            for i in range(n)]


def proposal(layout: Layout, order: list[str], agent: str = "design", **extra) -> Proposal:
    by_id = {t.id: t for t in layout}
    target = Layout([by_id[i] for i in order], layout.n_columns)
    return Proposal(agent=agent, layout=target.to_dict(), explanation="test reorder",
                    propensity=0.5, expected_reward=0.7, runner_up="as is",
                    runner_up_reward=0.6, drivers={"appeal:t4": 0.3}, **extra)


@pytest.fixture
def gov(hub_home):
    def make(mode: str, layout: Layout | None = None) -> LayoutGovernor:
        Controls().set_mode(mode, user="ann", dashboard="sales")
        return LayoutGovernor(layout or Layout(tiles()), user="ann", dashboard="sales")
    return make


def test_assisted_applies_nothing_until_a_person_approves(gov):
    g = gov("assisted")
    before = g.layout.to_dict()
    versions_before = len(g.history())
    decision = g.submit(proposal(g.layout, ["t4", "t0", "t1", "t2", "t3"]))
    assert decision.status == "pending"
    assert g.layout.to_dict() == before and len(g.history()) == versions_before
    assert [p.id for p in g.pending()] == [decision.proposal_id]
    approved = g.approve(decision.proposal_id, by="ann")
    assert approved.status == "applied" and g.layout.ids[0] == "t4"
    entry = AuditLog().entries(action="approve")[-1]
    assert entry.approved_by == "ann" and "test reorder" in entry.explanation
    assert g.pending() == []
    with pytest.raises(ProposalError, match="already approved"):
        g.approve(decision.proposal_id, by="ann")


def test_rejected_proposal_changes_nothing_and_records_zero_reward(gov):
    g = gov("assisted")
    before = g.layout.to_dict()
    decision = g.submit(proposal(g.layout, ["t1", "t0", "t2", "t3", "t4"]))
    g.reject(decision.proposal_id, by="ann")
    assert g.layout.to_dict() == before
    row = AuditLog().entries(action="reject")[-1]
    assert row.outcome_reward == 0.0 and row.approved_by == "ann"


def test_stale_proposal_is_refused(gov):
    g = gov("assisted")
    decision = g.submit(proposal(g.layout, ["t1", "t0", "t2", "t3", "t4"]))
    g.layout.move("t3", 0)  # a person changed the layout meanwhile
    with pytest.raises(ProposalError, match="version"):
        g.approve(decision.proposal_id, by="ann")
    assert g.layout.ids[0] == "t3"


def test_supervised_applies_announces_and_undo_restores_exactly(gov):
    g = gov("supervised", Layout(tiles(pinned=(2,)), n_columns=3))
    g.layout.resize("t1", width=2)
    exact = g.layout.to_dict()
    order = ["t4", "t3", "t2", "t0"]  # t1 removed, t2 pinned at slot 2
    decision = g.submit(proposal(g.layout, order))
    assert decision.status == "applied" and decision.announced
    assert g.layout.ids == order and g.can_undo
    undone = g.undo(by="ann")
    assert undone.status == "undone" and g.layout.to_dict() == exact
    assert not g.can_undo
    actions = [e.action for e in AuditLog().entries()]
    assert any(a.startswith("apply layout ann/sales") for a in actions)
    assert any(a.startswith("undo layout ann/sales") for a in actions)


def test_autonomous_applies_only_in_allowed_domains(gov, monkeypatch):
    from hub_kernel.core import config

    g = gov("autonomous")
    assert g.submit(proposal(g.layout, ["t1", "t0", "t2", "t3", "t4"])).status == "applied"
    monkeypatch.setenv("HUB_AUTONOMOUS_DOMAINS", '["report"]')
    config.reload_settings()
    assert g.submit(proposal(g.layout, ["t2", "t1", "t0", "t3", "t4"])).status == "pending"


def test_vetoed_action_kind_is_not_applied(gov):
    g = gov("supervised")
    Controls().veto("remove", user="ann")
    before = g.layout.to_dict()
    decision = g.submit(proposal(g.layout, ["t0", "t1", "t2", "t3"]))
    assert decision.status == "vetoed" and g.layout.to_dict() == before
    assert AuditLog().entries(action="vetoed")
    Controls().allow("remove", user="ann")
    assert g.submit(proposal(g.layout, ["t0", "t1", "t2", "t3"])).status == "applied"


def test_locked_and_expanded_tiles_are_not_removed(gov):
    g = gov("autonomous", Layout(tiles(locked=(1,))))
    assert g.submit(proposal(g.layout, ["t0", "t2", "t3", "t4"])).status == "refused"
    decision = g.submit(proposal(g.layout, ["t1", "t0", "t2", "t3"]), keep={"t4"})
    assert decision.status == "refused" and "t4" in g.layout
    assert g.submit(proposal(g.layout, ["t1", "t0", "t2", "t3", "t4"])).status == "applied"


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(3, 7), data=st.data())
def test_pinned_tiles_never_move(gov, n, data):
    pins = tuple(sorted(data.draw(st.sets(st.integers(0, n - 1), max_size=n - 1))))
    g = gov(data.draw(st.sampled_from(["assisted", "supervised", "autonomous"])),
            Layout(tiles(n, pinned=pins)))
    for _ in range(3):
        order = data.draw(st.permutations(g.layout.ids))
        keep = data.draw(st.integers(1, len(order)))
        decision = g.submit(proposal(g.layout, list(order[:keep])))
        if decision.status == "pending":
            with contextlib.suppress(ProposalError):
                g.approve(decision.proposal_id, by="ann")
        for slot in pins:
            assert g.layout.tiles[slot].id == f"t{slot}" and g.layout.tiles[slot].pinned
    g.close()


def test_every_layout_is_versioned_and_restored_exactly(gov):
    g = gov("supervised")
    first = g.layout.to_dict()
    g.submit(proposal(g.layout, ["t4", "t3", "t2", "t1", "t0"]))
    g.layout.pin("t2")  # a person's change is a version too
    history = g.history()
    assert [v.author for v in history] == ["default", "design", "person"]
    restored = g.restore(1, by="ann")
    assert g.layout.to_dict() == first and restored.version == 4
    assert VersionStore().get("layout", "ann/sales").restored_from == 1
    with pytest.raises(VersionError, match="no version 99"):
        g.restore(99, by="ann")


def test_a_change_that_breaks_rendering_is_undone(gov):
    g = gov("supervised")
    before = g.layout.to_dict()

    def broken_renderer(layout):
        if layout.ids[0] == "t4":
            raise RuntimeError("renderer exploded")

    g.layout.observe(broken_renderer)
    decision = g.submit(proposal(g.layout, ["t4", "t0", "t1", "t2", "t3"]))
    assert decision.status == "failed" and g.layout.to_dict() == before


def test_diff_names_one_move_for_one_jump():
    a = Layout(tiles(6))
    b = Layout([a["t5"], a["t0"], a["t2"], a["t3"], a["t4"]])
    assert [(c.kind, c.tile) for c in diff(a, b)] == [("remove", "t1"), ("move", "t5")]


def test_mode_scopes_most_specific_wins(hub_home):
    controls = Controls()
    assert controls.mode(user="bob", dashboard="x") == "assisted"  # the setting's default
    controls.set_mode("autonomous", user="bob")
    controls.set_mode("supervised", dashboard="x")
    assert controls.mode(user="bob", dashboard="y") == "autonomous"
    assert controls.mode(user="bob", dashboard="x") == "supervised"
    controls.set_mode("assisted", user="bob", dashboard="x")
    assert controls.mode(user="bob", dashboard="x") == "assisted"
    assert AuditLog().entries(action="set mode")[-1].explanation.startswith(
        "autonomy mode for user bob on dashboard x set to assisted")
    with pytest.raises(ModeError, match="choose one of assisted, supervised, autonomous"):
        controls.set_mode("yolo")


def test_of_two_deciding_one_proposal_at_once_exactly_one_goes_on(gov, monkeypatch):
    """The page and the CLI approving (or rejecting) the same proposal at the same moment:
    the second finds it taken, and nothing is applied or audited twice."""
    page = gov("assisted")
    decision = page.submit(proposal(page.layout, ["t4", "t0", "t1", "t2", "t3"]))
    cli = LayoutGovernor(Layout(tiles()), user="ann", dashboard="sales")
    both_checked = page._pending(decision.proposal_id)  # both saw it pending...
    monkeypatch.setattr(cli, "_pending", lambda _id: both_checked)
    page.approve(decision.proposal_id, by="ann")  # ...the page decided first
    approvals = len(AuditLog().entries(action="approve proposal"))
    for act in (cli.approve, cli.reject):
        with pytest.raises(ProposalError, match=r"decided meanwhile.*approved"):
            act(decision.proposal_id, by="bob", operator=True)  # an operator at the CLI
    assert len(AuditLog().entries(action="approve proposal")) == approvals
    assert not AuditLog().entries(action="reject proposal")
    assert cli.layout.ids[0] == "t0"  # the second approval changed nothing


def test_a_decision_that_fails_midway_leaves_the_proposal_pending(gov, monkeypatch):
    g = gov("assisted")
    decision = g.submit(proposal(g.layout, ["t1", "t0", "t2", "t3", "t4"]))

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(AuditLog, "record", broken)
    with pytest.raises(OSError):
        g.reject(decision.proposal_id, by="ann")
    assert [p.id for p in g.pending()] == [decision.proposal_id]


_KILLED_APPROVAL = """
import os, sys
from hub_kernel.layout import Layout
from hub_kernel.safety import governor
from hub_kernel.safety.audit import AuditLog
from hub_kernel.safety.versions import VersionStore

point, number = sys.argv[1], int(sys.argv[2])
latest = VersionStore().latest("layout", "ann/sales")
g = governor.LayoutGovernor(Layout.from_dict(latest.payload), user="ann", dashboard="sales")
if point == "after-claim":  # killed before the decision reached the audit log
    AuditLog.record = lambda *a, **k: os._exit(9)
else:  # killed after the audit row, before the version and the status committed
    governor.LayoutGovernor._commit = lambda *a, **k: os._exit(9)
getattr(g, sys.argv[3])(number, by="ann")
"""


@pytest.mark.parametrize("point, act", [("after-claim", "approve"), ("after-audit", "approve"),
                                        ("after-audit", "reject")])
def test_a_decision_killed_midway_is_settled_from_the_audit_log(gov, hub_home, tmp_path,
                                                                 monkeypatch, point, act):
    import os
    import subprocess
    import sys

    from hub_kernel.safety import governor as governor_module
    from hub_kernel.safety.governor import list_proposals

    g = gov("assisted")
    order = ["t2", "t0", "t1", "t3", "t4"]
    decision = g.submit(proposal(g.layout, order))
    script = tmp_path / "decide.py"
    script.write_text(_KILLED_APPROVAL)
    if act == "reject" and point == "after-audit":  # reject has no _commit: kill after audit
        script.write_text(_KILLED_APPROVAL.replace(
            "governor.LayoutGovernor._commit = lambda *a, **k: os._exit(9)",
            "governor.LayoutGovernor._close = lambda *a, **k: os._exit(9)"))
    done = subprocess.run([sys.executable, str(script), point, str(decision.proposal_id), act],
                          env={**os.environ, "HUB_HOME": str(hub_home)}, cwd=os.getcwd(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 9, done.stderr
    (status,) = [p.status for p in list_proposals(key=g.key)]
    assert status == "deciding"  # what the killed process left

    monkeypatch.setattr(governor_module, "CLAIM_TIMEOUT_SECONDS", 0.0)  # its process is gone
    reopened = governor_module.LayoutGovernor(
        Layout.from_dict(VersionStore().latest("layout", g.key).payload),
        user="ann", dashboard="sales")
    (status,) = [p.status for p in list_proposals(key=g.key)]
    approvals = AuditLog().entries(action=f"approve proposal {decision.proposal_id}")
    latest = VersionStore().latest("layout", g.key)
    if point == "after-claim":  # nothing was decided: pending again, and it can be approved
        assert status == "pending" and not approvals
        assert reopened.approve(decision.proposal_id, by="ann").status == "applied"
        assert reopened.layout.ids == order
    elif act == "approve":  # the audit log says approved: the version follows it
        assert status == "approved" and len(approvals) == 1
        assert latest.payload["tiles"][0]["id"] == "t2" and reopened.layout.ids == order
        assert "completed after an interruption" in latest.reason
    else:
        assert status == "rejected" and reopened.layout.ids[0] == "t0"
    assert AuditLog().verify().ok

def test_only_the_owner_or_an_operator_decides_a_proposal(gov):
    from hub_kernel.exceptions import AuthorityError

    g = gov("assisted")
    decision = g.submit(proposal(g.layout, ["t4", "t0", "t1", "t2", "t3"]))
    for act in (g.approve, g.reject):
        with pytest.raises(AuthorityError, match=r"bob may not .* it is ann's, and only its "
                                                 r"owner or an operator decides it"):
            act(decision.proposal_id, by="bob")
    refusals = AuditLog().entries(action="refused")
    assert [e.approved_by for e in refusals[-2:]] == ["bob", "bob"]
    assert "neither the owner of the proposal (ann) nor an operator" in refusals[-1].explanation
    assert [p.id for p in g.pending()] == [decision.proposal_id]  # still pending, unchanged
    assert g.layout.ids[0] == "t0"
    approved = g.approve(decision.proposal_id, by="olga", operator=True)
    assert approved.status == "applied" and g.layout.ids[0] == "t4"
