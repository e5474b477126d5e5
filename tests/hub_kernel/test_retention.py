"""``hub prune``: retention removes the oldest events, stream rows and runs, and never an audit
row or a model version."""

from __future__ import annotations

import fcntl
import sqlite3
from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner


def _reload(monkeypatch, **env: str):
    from hub_kernel.core import config

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return config.reload_settings()


def test_old_events_and_runs_go_recent_ones_and_the_audit_log_stay(hub_home, monkeypatch):
    from hub_kernel.agents.common.events import EventStore, InteractionEvent
    from hub_kernel.retention import prune
    from hub_kernel.safety.audit import AuditLog
    from hub_kernel.schedule.history import RunHistory

    settings = _reload(monkeypatch, HUB_RETAIN_EVENTS_DAYS="30", HUB_RETAIN_RUNS_DAYS="7")
    now = datetime.now(UTC)
    old, new = (now - timedelta(days=40)).isoformat(), now.isoformat()
    EventStore().add([InteractionEvent("ann", "s1", "d", "t1", "click", time=old),
                      InteractionEvent("ann", "s2", "d", "t1", "click", time=new)])
    AuditLog().record(agent="test", action="kept", explanation="an audit row is never pruned")
    runs = RunHistory()
    settings.runs_dir.mkdir(parents=True, exist_ok=True)
    outside = hub_home.parent / "not-a-run.ipynb"
    outside.write_text("{}")
    ids = {}
    for name in ("old", "recent", "running", "points-outside"):
        output = settings.runs_dir / f"{name}.ipynb"
        output.write_text("{}")
        ids[name] = runs.start(job=name, notebook="n.ipynb", parameters={}, trigger="manual",
                               output=str(outside if name == "points-outside" else output))
        if name != "running":
            runs.finish(ids[name], status="succeeded")
    stamp = (now - timedelta(days=10)).isoformat(timespec="milliseconds")
    db = sqlite3.connect(settings.runs_dir / "history.db")
    with db:
        db.execute("UPDATE runs SET finished_at = ?, started_at = ? WHERE job IN "
                   "('old', 'points-outside')", (stamp, stamp))
        db.execute("UPDATE runs SET started_at = ? WHERE job = 'running'", (stamp,))
    db.close()

    counted = prune(dry_run=True)
    assert (counted.events, counted.runs, counted.run_files) == (1, 2, 1)
    assert len(EventStore().events(dashboard="d")) == 2  # a dry run removes nothing
    report = prune()
    assert (report.events, report.runs, report.run_files) == (1, 2, 1)
    assert "removed 1 event(s)" in report.summary()
    assert [e.session for e in EventStore().events(dashboard="d")] == ["s2"]
    assert {r.job for r in runs.runs()} == {"recent", "running"}
    assert not (settings.runs_dir / "old.ipynb").exists()
    assert (settings.runs_dir / "recent.ipynb").exists()
    assert outside.exists()  # a path outside the runs folder is never deleted
    assert len(AuditLog().entries()) == 1 and AuditLog().verify().ok


def test_a_stream_keeps_its_newest_rows_and_a_resent_pruned_row_stays_a_duplicate(
        hub_home, monkeypatch):
    from hub_kernel.data.stream.store import StreamStore, store_path
    from hub_kernel.retention import prune

    _reload(monkeypatch, HUB_RETAIN_STREAM_ROWS="30")
    path = store_path("sensors")
    store = StreamStore(path)
    store.append([(seq, 0.0, f'{{"seq": {seq}}}') for seq in range(100)], {})
    store.close()
    busy = store_path("followed")
    StreamStore(busy).append([(seq, 0.0, "{}") for seq in range(50)], {})
    with busy.with_suffix(".lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a consumer follows this one
        report = prune()
    assert report.stream_rows == {"sensors": 70}
    assert report.streams_busy == ["followed"]
    assert "skipped while followed: followed" in report.summary()

    reopened = StreamStore(path)
    count, seqs, window, _, _ = reopened.load(1000, 2**20)
    assert count == 30 and [row["seq"] for row, _ in window] == list(range(70, 100))
    assert seqs.stored(5, reopened.has_seq)  # resent: a duplicate, not a late row
    assert not seqs.stored(100, reopened.has_seq)
    assert seqs.gap_count == 0


def test_the_cli_prunes_and_says_when_nothing_is_set(hub_home, monkeypatch):
    from hub_kernel.cli import app

    _reload(monkeypatch)
    result = CliRunner().invoke(app, ["prune"])
    assert result.exit_code == 0 and "no retention is set" in result.output
    _reload(monkeypatch, HUB_RETAIN_EVENTS_DAYS="1")
    result = CliRunner().invoke(app, ["prune", "--dry-run"])
    assert result.exit_code == 0 and "would remove 0 event(s)" in result.output
