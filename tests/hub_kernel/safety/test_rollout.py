import json
import os
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from hub_kernel.safety.audit import AuditError, AuditLog
from hub_kernel.safety.rollout import Rollout, RolloutError, bucket, evaluate, in_force
from hub_kernel.safety.versions import VersionError, VersionStore

NAME = "layout-bandit"


@pytest.fixture
def versions(hub_home):
    store = VersionStore()
    for i in (1, 2, 3):
        store.save("policy", NAME, {"weights": [i]}, author="trainer", reason=f"fit {i}")
    return store


def simulate(rollout, means, n_sessions, *, seed=0, sd=0.1, prefix="s"):
    """Sessions get a version from the rollout and a reward drawn around that version's mean;
    stops when the rollout ends."""
    rng = np.random.default_rng(seed)
    status = rollout.status()
    for i in range(n_sessions):
        session = f"{prefix}{i}"
        version = rollout.assign(session)
        status = rollout.record(session, float(rng.normal(means[version], sd)))
        if status.state != "running":
            break
    return status


def test_a_worse_candidate_is_rolled_back_with_an_audit_entry(versions):
    rollout = Rollout(NAME)
    started = rollout.start(2, fraction=0.5, threshold=0.05, min_sessions=10, author="ana")
    assert (started.state, started.baseline, started.candidate) == ("running", 1, 2)
    status = simulate(rollout, {1: 0.6, 2: 0.3}, 200)
    assert status.state == "rolled_back" and status.in_force == 1
    assert status.baseline_n >= 10 and status.candidate_n >= 10
    assert status.candidate_mean < status.baseline_mean - 0.05
    entry = AuditLog().entries(agent="rollout", action="rollback")[-1]
    assert entry.action == f"rollback policy {NAME} v2 -> v1"
    assert "p(worse)" in entry.explanation and "sessions" in entry.explanation
    assert entry.approved_by is None  # nobody had to
    assert {rollout.assign(f"after{i}") for i in range(300)} == {1}
    assert in_force(NAME) == 1
    # later rewards are not stored and change nothing
    again = rollout.record("late", 0.0)
    assert again.state == "rolled_back" and again.candidate_n == status.candidate_n
    assert AuditLog().verify().ok


def test_an_equal_candidate_is_not_rolled_back(versions):
    rollout = Rollout(NAME)
    rollout.start(2, fraction=0.5, threshold=0.05, min_sessions=10, author="ana")
    status = simulate(rollout, {1: 0.5, 2: 0.5}, 80, seed=1)
    assert status.state == "running"
    assert status.baseline_n + status.candidate_n == 80
    assert "no credible difference" in status.decision or "not worse" in status.decision
    assert not AuditLog().entries(action="rollback")


def test_auto_complete_puts_a_candidate_that_is_not_worse_in_force(versions):
    rollout = Rollout(NAME)
    rollout.start(2, fraction=0.5, threshold=0.05, min_sessions=10, auto_complete=True,
                  author="ana")
    status = simulate(rollout, {1: 0.5, 2: 0.52}, 200, seed=2, sd=0.05)
    assert status.state == "completed" and status.in_force == 2 and status.ended_by == "rollout"
    assert {rollout.assign(f"after{i}") for i in range(100)} == {2}
    assert AuditLog().entries(action=f"complete rollout policy {NAME} v1 -> v2")


def test_rollback_is_audited_before_the_state_changes(versions, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    broken = Rollout(NAME, audit=AuditLog(blocker / "audit.db"))
    Rollout(NAME).start(2, fraction=0.5, min_sessions=2, threshold=0.0, author="ana")
    sessions = {1: [], 2: []}
    i = 0
    while min(len(v) for v in sessions.values()) < 3:
        sessions[broken.assign(f"s{i}")].append(f"s{i}")
        i += 1
    for session in sessions[1][:3]:
        broken.record(session, 1.0 + 0.01 * len(session))
    broken.record(sessions[2][0], 0.0)
    with pytest.raises(AuditError):  # the decision to roll back cannot be audited...
        broken.record(sessions[2][1], 0.01)
    status = broken.status()
    assert status.state == "running"  # ...so it is not taken
    assert status.candidate_n == 2  # and the reward is kept
    ok = Rollout(NAME).record(sessions[2][2], 0.02)
    assert ok.state == "rolled_back"


def test_assignment_is_stable_across_processes_and_serves_the_fraction(versions, hub_home):
    rollout = Rollout(NAME)
    status = rollout.start(2, fraction=0.1, author="ana")
    ids = [f"user-{i}" for i in range(10_000)]
    served = np.mean([bucket(NAME, status.rollout_id, s) < 0.1 for s in ids])
    assert abs(served - 0.1) < 0.01
    here = [rollout.assign(s) for s in ids[:300]]
    assert here == [2 if bucket(NAME, status.rollout_id, s) < 0.1 else 1 for s in ids[:300]]
    code = ("import json, sys\nfrom hub_kernel.safety.rollout import Rollout\n"
            f"r = Rollout({NAME!r})\n"
            "print(json.dumps([r.assign(f'user-{i}') for i in range(300)]))\n")
    env = {**os.environ, "HUB_HOME": str(hub_home), "PYTHONHASHSEED": "123"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, timeout=60)
    assert json.loads(out.stdout) == here
    assert {1, 2} <= set(here)


def test_lifecycle_keeps_track_of_the_version_in_force(versions):
    rollout = Rollout(NAME)
    assert rollout.status().state == "none" and in_force(NAME) == 3  # nothing pinned: newest
    rollout.start(2, fraction=0.2, author="ana")  # first time: the newest before v2
    assert rollout.status().baseline == 1
    done = rollout.complete("ana")
    assert done.state == "completed" and done.in_force == 2 and in_force(NAME) == 2
    assert rollout.assign("anyone") == 2
    again = rollout.start(3, fraction=0.2, author="ana")
    assert (again.baseline, again.candidate) == (2, 3)
    stopped = rollout.stop("bo")
    assert stopped.state == "stopped" and stopped.in_force == 2 and stopped.ended_by == "bo"
    actions = [e.action for e in AuditLog().entries(agent="rollout")]
    assert actions == [
        f"start rollout policy {NAME} v2 at 20% (baseline v1)",
        f"complete rollout policy {NAME} v1 -> v2",
        f"start rollout policy {NAME} v3 at 20% (baseline v2)",
        f"stop rollout policy {NAME} v3, keep v2",
    ]


def test_mistakes_are_refused_with_what_to_do(versions):
    rollout = Rollout(NAME)
    with pytest.raises(VersionError, match="no version 9"):
        rollout.start(9, fraction=0.1, author="ana")
    with pytest.raises(VersionError, match="no version before v1"):
        rollout.start(1, fraction=0.1, author="ana")
    for fraction in (0.0, 1.0, 1.5):
        with pytest.raises(RolloutError, match="between 0 and 1"):
            rollout.start(2, fraction=fraction, author="ana")
    with pytest.raises(RolloutError, match="has no rollout; start one"):
        rollout.complete("ana")
    rollout.start(2, fraction=0.1, author="ana")
    with pytest.raises(RolloutError, match="already running"):
        rollout.start(3, fraction=0.1, author="ana")
    with pytest.raises(RolloutError, match="finite"):
        rollout.record("s", float("nan"))
    rollout.stop("ana")
    with pytest.raises(RolloutError, match="already ended: stopped"):
        rollout.stop("ana")
    with pytest.raises(RolloutError, match="already in force"):
        rollout.start(1, fraction=0.1, author="ana")
    with pytest.raises(VersionError, match="no version of policy 'nothing'"):
        Rollout("nothing").assign("s")


def test_evaluate_rules():
    kw = {"threshold": 0.05, "min_sessions": 3, "alpha": 0.05}
    assert evaluate([0.5, 0.5], [0.1, 0.1, 0.1], **kw).verdict == "wait"
    flat = evaluate([0.5] * 5, [0.3] * 5, **kw)  # no spread: decided by the means
    assert flat.verdict == "rollback" and flat.p_worse == 0.0
    small = evaluate([0.5, 0.6, 0.4, 0.5], [0.47, 0.57, 0.37, 0.47], **kw)
    assert small.verdict != "rollback"  # worse, but by less than the threshold


def test_cli_round_trip(versions):
    from hub_kernel.cli import app

    runner = CliRunner()
    started = runner.invoke(app, ["rollout", "start", NAME, "2", "--fraction", "0.25",
                                  "--by", "ana"])
    assert started.exit_code == 0, started.output
    assert "running" in started.output and "v1 -> v2" in started.output
    assert "25%" in started.output
    status = runner.invoke(app, ["rollout", "status", NAME])
    assert status.exit_code == 0 and "baseline" in status.output and "candidate" in status.output
    done = runner.invoke(app, ["rollout", "complete", NAME, "--by", "ana"])
    assert done.exit_code == 0 and "completed" in done.output and "v2" in done.output
    bad = runner.invoke(app, ["rollout", "stop", NAME])
    assert bad.exit_code == 1 and "error:" in bad.output and "already ended" in bad.output
    assert "Traceback" not in bad.output
    missing = runner.invoke(app, ["rollout", "start", NAME, "7"])
    assert missing.exit_code == 1 and "no version 7" in missing.output
    assert runner.invoke(app, ["rollout", "status", "other"]).output.count("never rolled out")
