"""The run history: one row per execution of a scheduled notebook (SQLite, WAL).

A row is written ``running`` before the notebook starts and finished as ``succeeded`` or
``failed`` (with the error and the index of the failing cell in the kept notebook). A row left
``running`` by a process that died (``kill -9``) is found by ``recover_stale``: it is marked
failed, and the notebook's kernel, if it outlived its parent, is stopped. Parameters, errors and
summaries are stored with credentials removed (``core.redact``: no ``user:pw@`` or ``?token=``
of a ``source`` URL).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import sqlite3
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from hub_kernel.core.process import alive, this_process
from hub_kernel.core.redact import redact, redact_text, secrets_of
from hub_kernel.core.sqlite import connect
from hub_kernel.exceptions import ScheduleError
from hub_kernel.schedule.notebook import export_html, scrub_notebook

logger = logging.getLogger("hub_kernel")

Status = Literal["running", "succeeded", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 1,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    outcome TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    duration REAL,
    notebook TEXT NOT NULL,
    output TEXT,
    html TEXT,
    parameters TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    error_cell INTEGER,
    summary TEXT,
    mlflow_run_id TEXT,
    pid INTEGER,
    pid_started TEXT,
    host TEXT,
    kernel_pid INTEGER,
    kernel_started TEXT
);
CREATE INDEX IF NOT EXISTS runs_job ON runs (job, id);
CREATE TABLE IF NOT EXISTS hub_migrations (name TEXT PRIMARY KEY, done_at TEXT NOT NULL);
"""
#: runs recorded before credentials were removed are redacted once, files included
_REDACTED = "credentials-removed"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class RunRecord:
    """One execution of a job's notebook."""

    id: int
    job: str
    attempt: int
    trigger: str  # "schedule", "manual" or "retry"
    status: Status
    outcome: str | None  # e.g. promoted / proposed / held / no-change / created / failed
    started_at: str
    finished_at: str | None
    duration: float | None
    notebook: str  # the notebook that was run
    output: str | None  # the executed copy (.ipynb)
    html: str | None  # its HTML copy
    parameters: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_cell: int | None = None  # index of the failing cell in ``output``
    summary: dict[str, Any] | None = None  # what the notebook reported (retrain summary)
    mlflow_run_id: str | None = None
    pid: int | None = None
    pid_started: str | None = None
    host: str | None = None
    kernel_pid: int | None = None
    kernel_started: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def label(self) -> str:
        """What happened, in one word: the outcome, else the status."""
        return self.outcome or self.status

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RunRecord:
        data = dict(row)
        data["parameters"] = json.loads(data.get("parameters") or "{}")
        data["summary"] = json.loads(data["summary"]) if data.get("summary") else None
        return cls(**data)


class RunHistory:
    """The run history at ``path`` (default ``$HUB_HOME/runs/history.db``)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        if path is None:
            from hub_kernel.core.config import get_settings

            path = get_settings().runs_dir / "history.db"
        self.path = Path(path)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            db = connect(self.path, what="run history", error=ScheduleError, schema=_SCHEMA)
        except ScheduleError as exc:
            raise ScheduleError(f"{exc}; check that HUB_HOME is writable") from exc
        try:
            if not getattr(self, "_migrated", False):
                self._remove_old_credentials(db)
                self._migrated = True
            yield db
        except sqlite3.Error as exc:
            raise ScheduleError(f"run history {self.path} failed: {exc}") from exc
        finally:
            db.close()

    def _remove_old_credentials(self, db: sqlite3.Connection) -> None:
        """Once per file: redact the runs an older hub recorded with their parameters' secrets
        (rows, then their notebooks and HTML copies); the runs themselves are kept."""
        if db.execute("SELECT 1 FROM hub_migrations WHERE name = ?", (_REDACTED,)).fetchone():
            return
        files: list[tuple[str | None, str | None, frozenset[str]]] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("SELECT 1 FROM hub_migrations WHERE name = ?",
                          (_REDACTED,)).fetchone():  # another process just did it
                db.execute("ROLLBACK")
                return
            rows = db.execute("SELECT id, parameters, error, summary, output, html FROM runs")
            for row in rows.fetchall():
                parameters = json.loads(row["parameters"] or "{}")
                secrets = secrets_of(parameters)
                new = (json.dumps(redact(parameters, secrets=secrets), default=str),
                       None if row["error"] is None else redact_text(row["error"], secrets),
                       None if row["summary"] is None else json.dumps(
                           redact(json.loads(row["summary"]), by_key=False, secrets=secrets),
                           default=str))
                if new != (row["parameters"], row["error"], row["summary"]) or secrets:
                    db.execute("UPDATE runs SET parameters = ?, error = ?, summary = ? "
                               "WHERE id = ?", (*new, row["id"]))
                    files.append((row["output"], row["html"], secrets))
            db.execute("INSERT INTO hub_migrations (name, done_at) VALUES (?, ?)",
                       (_REDACTED, now_iso()))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if files:  # the old values linger in free pages and the WAL until rewritten
            try:
                db.execute("VACUUM")
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                logger.warning("run history %s not compacted after removing credentials: %s",
                               self.path, exc)
        for output, html, secrets in files:
            if output and Path(output).is_file() and scrub_notebook(Path(output), secrets) \
                    and html:
                export_html(Path(output), Path(html))
        if files:
            logger.info("removed credentials from %d earlier run(s) in %s", len(files),
                        self.path)

    # -- writing -------------------------------------------------------------------------
    def start(self, *, job: str, notebook: str, parameters: dict[str, Any], trigger: str,
              attempt: int = 1, output: str | None = None, html: str | None = None) -> int:
        """Record a run as ``running``; returns its id."""
        me = this_process()
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO runs (job, attempt, trigger, status, started_at, notebook, output, "
                "html, parameters, pid, pid_started, host) "
                "VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?)",
                (job, attempt, trigger, now_iso(), notebook, output, html,
                 json.dumps(redact(parameters, secrets=secrets_of(parameters)), default=str),
                 me["pid"], me["pid_started"],
                 me["host"]),
            )
            return int(cursor.lastrowid or 0)

    def set_kernel(self, run_id: int, pid: int, started: str | None) -> None:
        with self._connect() as db:
            db.execute("UPDATE runs SET kernel_pid = ?, kernel_started = ? WHERE id = ?",
                       (pid, started, run_id))

    def finish(self, run_id: int, *, status: Status, outcome: str | None = None,
               error: str | None = None, error_cell: int | None = None,
               summary: dict[str, Any] | None = None, html: str | None = None,
               output: str | None = None, secrets: Collection[str] = ()) -> RunRecord:
        """Close a run: its status, outcome, error, and how long it took (credentials in
        the error and the summary removed: URLs and ``secrets``, ``core.redact``)."""
        record = self.get(run_id)
        error = None if error is None else redact_text(error, secrets)
        summary = None if summary is None else redact(summary, by_key=False, secrets=secrets)
        started = datetime.fromisoformat(record.started_at)
        finished = datetime.now(UTC)
        with self._connect() as db:
            db.execute(
                "UPDATE runs SET status = ?, outcome = ?, finished_at = ?, duration = ?, "
                "error = ?, error_cell = ?, summary = ?, html = COALESCE(?, html), "
                "output = COALESCE(?, output) WHERE id = ?",
                (status, outcome, finished.isoformat(timespec="milliseconds"),
                 (finished - started).total_seconds(), error, error_cell,
                 None if summary is None else json.dumps(summary, default=str), html, output,
                 run_id),
            )
        return self.get(run_id)

    def set_mlflow_run(self, run_id: int, mlflow_run_id: str) -> None:
        with self._connect() as db:
            db.execute("UPDATE runs SET mlflow_run_id = ? WHERE id = ?", (mlflow_run_id, run_id))

    # -- reading -------------------------------------------------------------------------
    def get(self, run_id: int) -> RunRecord:
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise ScheduleError(f"no run {run_id} in {self.path}")
        return RunRecord.from_row(row)

    def runs(self, job: str | None = None, *, limit: int | None = 50,
             status: Status | None = None) -> list[RunRecord]:
        """Runs, newest first (of ``job`` / with ``status`` when given)."""
        if not self.path.exists():
            return []
        query, args = "SELECT * FROM runs WHERE 1=1", list[Any]()
        if job is not None:
            query, args = query + " AND job = ?", [*args, job]
        if status is not None:
            query, args = query + " AND status = ?", [*args, status]
        query += " ORDER BY id DESC"
        if limit is not None:
            query, args = query + " LIMIT ?", [*args, int(limit)]
        with self._connect() as db:
            return [RunRecord.from_row(r) for r in db.execute(query, args).fetchall()]

    def last_runs(self) -> dict[str, RunRecord]:
        """The newest run of each job."""
        if not self.path.exists():
            return {}
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM runs WHERE id IN (SELECT MAX(id) FROM runs GROUP BY job) "
                "ORDER BY job").fetchall()
        return {r["job"]: RunRecord.from_row(r) for r in rows}

    # -- repair --------------------------------------------------------------------------
    def recover_stale(self, job: str | None = None, *, wait: float = 5.0,
                      secrets: Mapping[str, Collection[str]] | None = None) -> list[RunRecord]:
        """Mark failed the runs left ``running`` by a process of this host that is gone, and
        stop their kernels if they outlived it. Returns the runs repaired. ``secrets`` (by
        job: ``core.redact.secrets_of`` its parameters) are removed from their notebooks."""
        host = socket.gethostname()
        repaired = []
        for record in self.runs(job, limit=None, status="running"):
            if record.host != host or alive(record.pid, record.pid_started):
                continue
            if record.kernel_pid and alive(record.kernel_pid, record.kernel_started):
                _stop_kernel(record.kernel_pid, record.kernel_started, wait)
            html = _html_copy(record, (secrets or {}).get(record.job, ()))
            repaired.append(self.finish(
                record.id, status="failed", outcome="failed", html=html,
                error=f"interrupted: process {record.pid} ended during the run (killed?)",
            ))
            logger.warning("run %s of job %s was interrupted (process %s is gone): marked failed",
                           record.id, record.job, record.pid)
        return repaired


def _html_copy(record: RunRecord, secrets: Collection[str] = ()) -> str | None:
    """An HTML copy of what an interrupted run's notebook holds (saved after each cell),
    credentials removed from both."""
    if not record.output or not Path(record.output).is_file():
        return None
    scrub_notebook(Path(record.output), secrets)
    html = export_html(Path(record.output), Path(record.output).with_suffix(".html"))
    return str(html) if html else None


def kill_kernel(pid: int) -> None:
    """SIGKILL a kernel and its process group (kernels start in a session of their own)."""
    for sender in (os.killpg, os.kill):
        with contextlib.suppress(OSError):
            sender(pid, signal.SIGKILL)


def _stop_kernel(pid: int, started: str | None, wait: float) -> None:
    """Kill a kernel left behind (and its process group) and wait until it is gone."""
    logger.warning("stopping kernel %s left running by a dead scheduler", pid)
    kill_kernel(pid)
    deadline = time.monotonic() + wait
    while alive(pid, started) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid, started):
        raise ScheduleError(f"kernel {pid} of an interrupted run does not stop; kill it "
                            "before the job runs again")
