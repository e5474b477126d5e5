import csv
import itertools
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from hub_kernel.safety.audit import AuditError, AuditLog


@pytest.fixture
def log(tmp_path):
    log = AuditLog(tmp_path / "audit.db")
    for i in range(5):
        log.record(agent="ab_gate" if i % 2 else "retrain_policy", action=f"act {i}",
                   explanation=f"because {i}", mode="supervised",
                   observation={"i": i}, propensity=1.0)
    return log


def raw(log):
    """What an attacker with file access can do: drop the triggers, then edit."""
    db = sqlite3.connect(log.path, isolation_level=None)
    db.execute("DROP TRIGGER audit_no_update")
    db.execute("DROP TRIGGER audit_no_delete")
    return db


def test_rows_are_chained_filtered_and_verified(log):
    rows = log.entries()
    assert [r.id for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    assert [r.action for r in log.entries(agent="ab_gate")] == ["act 1", "act 3"]
    assert [r.id for r in log.entries(limit=2)] == [4, 5]
    assert log.verify().ok and log.verify().n_rows == 5


def test_the_log_is_append_only(log):
    db = sqlite3.connect(log.path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE audit SET explanation = 'nothing to see' WHERE id = 2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM audit WHERE id = 2")


@pytest.mark.parametrize(
    ("tamper", "found"),
    [
        ("UPDATE audit SET explanation = 'nothing to see' WHERE id = 3", "row 3 was changed"),
        ("UPDATE audit SET approved_by = 'ceo' WHERE id = 5", "row 5 was changed"),
        ("DELETE FROM audit WHERE id = 2", "row 2 is missing"),
    ],
)
def test_tampering_is_detected(log, tamper, found):
    raw(log).execute(tamper)
    result = log.verify()
    assert not result.ok and found in result.reason


def test_rewriting_a_row_with_its_own_hash_still_breaks_the_chain(log):
    from hub_kernel.safety.audit import _digest

    db = raw(log)
    db.row_factory = sqlite3.Row
    row = dict(db.execute("SELECT * FROM audit WHERE id = 2").fetchone())
    row["explanation"] = "forged"
    row["hash"] = _digest(row)  # the forger recomputes the row's own hash
    db.execute("UPDATE audit SET explanation = ?, hash = ? WHERE id = 2",
               (row["explanation"], row["hash"]))
    result = log.verify()
    assert not result.ok and "row 3 does not follow row 2" in result.reason


def test_killing_the_writer_mid_stream_leaves_a_readable_verified_log(tmp_path):
    path = tmp_path / "audit.db"
    code = (
        "import sys\nfrom hub_kernel.safety.audit import AuditLog\n"
        f"log = AuditLog({str(path)!r})\n"
        "for i in range(100000):\n"
        "    log.record(agent='loop', action=f'a{i}', explanation='x' * 200)\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(AuditLog(path).entries()) < 20:
        time.sleep(0.05)
    writer.send_signal(signal.SIGKILL)
    writer.wait(10)
    log = AuditLog(path)
    n = len(log.entries())
    assert n >= 20
    assert log.verify().ok
    log.record(agent="after", action="resume", explanation="still writable")
    assert log.verify().ok and len(log.entries()) == n + 1


def test_unwritable_location_is_an_audit_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(AuditError, match="cannot be opened"):
        AuditLog(blocker / "audit.db").record(agent="a", action="b", explanation="c")


def test_cli_lists_filters_exports_and_verifies(hub_home, tmp_path):
    from hub_kernel.cli import app

    log = AuditLog()
    log.record(agent="ab_gate", action="promoted m v2", explanation="better, p<0.001",
               mode="supervised")
    log.record(agent="person", action="rollback m v2 -> v1", explanation="checked by hand",
               approved_by="ana")
    runner = CliRunner()
    out = runner.invoke(app, ["audit", "--agent", "person"]).output
    assert "rollback m" in out and "ana" in out and "promoted" not in out
    exported = tmp_path / "audit.csv"
    assert runner.invoke(app, ["audit", "--csv", str(exported)]).exit_code == 0
    assert [r["agent"] for r in csv.DictReader(exported.open())] == ["ab_gate", "person"]
    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0 and "2 rows" in ok.output
    raw(log).execute("UPDATE audit SET approved_by = 'mallory' WHERE id = 2")
    bad = runner.invoke(app, ["audit", "verify"])
    assert bad.exit_code == 1 and "row 2 was changed" in bad.output
