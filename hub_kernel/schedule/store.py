"""The job store of ``hub scheduler``: jobs as JSON rows in hub's own SQLite table, never pickles.

APScheduler 3's ``SQLAlchemyJobStore`` pickles each job (its trigger, function reference and
arguments), so whoever can write ``scheduler.db`` chooses what the scheduler unpickles and
calls. ``JsonJobStore`` is an APScheduler job store over the table ``hub_jobs`` of the same
file: a row is the job's id, its next run time (a UTC timestamp, indexed) and a JSON definition:
the job's spec (``JobSpec``: notebook, parameters, retries...), its trigger (an interval or the
fields of a cron expression, with start and end dates and the time zone by name) and
APScheduler's options. The function is not stored: every job runs
``hub_kernel.schedule.jobs:run_scheduled_job``, and a job naming any other, or with positional
arguments, is refused when added. Several processes share the table (``hub schedule add``
while the scheduler runs): every read goes to the file.

Rows of the old pickled table ``apscheduler_jobs`` are migrated once, on start: each row's
next run time is a plain column; its spec (the job's keyword arguments) is read with an
unpickler that resolves no global at all (every class or function the pickle names becomes an
inert placeholder, so nothing in it can run), and the trigger is rebuilt from the spec's own
schedule text (``every 1h``, ``cron 0 * * * *``, by ``schedule.jobs``, which passes its
``rebuild`` in: this module imports nothing of it). A migrated row is deleted from the old
table; one that cannot be read is left there and named in a warning (re-add it with ``hub
schedule add``).
"""

from __future__ import annotations

import io
import json
import logging
import pickle
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.base import BaseJobStore, ConflictingIdError, JobLookupError
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from hub_kernel.core.sqlite import connect
from hub_kernel.exceptions import ScheduleError

logger = logging.getLogger("hub_kernel")

TABLE = "hub_jobs"
LEGACY_TABLE = "apscheduler_jobs"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id TEXT PRIMARY KEY,
    next_run_time REAL,
    definition TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS {TABLE}_next ON {TABLE}(next_run_time);
"""
_CRON_FIELDS = ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _date(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def trigger_to_json(trigger: Any) -> dict[str, Any]:
    """An interval or cron trigger as JSON (``ScheduleError`` for any other kind)."""
    common = {"start_date": _when(trigger.start_date),
              "end_date": _when(getattr(trigger, "end_date", None)),
              "timezone": str(trigger.timezone), "jitter": trigger.jitter}
    if isinstance(trigger, IntervalTrigger):
        return {"type": "interval", "seconds": trigger.interval.total_seconds(), **common}
    if isinstance(trigger, CronTrigger):
        return {"type": "cron", "fields": {f.name: str(f) for f in trigger.fields}, **common}
    raise ScheduleError(f"a {type(trigger).__name__} cannot be stored; use an interval or cron")


def trigger_from_json(data: dict[str, Any]) -> Any:
    """The trigger ``trigger_to_json`` described."""
    common = {"start_date": _date(data.get("start_date")),
              "end_date": _date(data.get("end_date")),
              "timezone": str(data["timezone"]), "jitter": data.get("jitter")}
    if data.get("type") == "interval":
        return IntervalTrigger(seconds=float(data["seconds"]), **common)
    if data.get("type") == "cron":
        fields = {k: str(v) for k, v in dict(data["fields"]).items() if k in _CRON_FIELDS}
        return CronTrigger(**fields, **common)
    raise ValueError(f"unknown trigger type {data.get('type')!r}")


def _timestamp(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


class JsonJobStore(BaseJobStore):
    """APScheduler's job store interface over ``hub_jobs`` in ``path`` (module docstring)."""

    def __init__(self, path: str | Path, *, job_func: str,
                 rebuild: Callable[[str], Any] | None = None) -> None:
        super().__init__()
        self.path = Path(path)
        self.job_func = job_func
        self.rebuild = rebuild  # schedule text -> trigger, for rows of the old pickled table
        self._ready = False

    # -- the file ----------------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        db = connect(self.path, what="the job store", error=ScheduleError,
                     schema=None if self._ready else _SCHEMA, synchronous="FULL")
        self._ready = True
        return db

    def start(self, scheduler: Any, alias: str) -> None:
        super().start(scheduler, alias)
        db = self._db()
        db.close()
        if self.rebuild is not None:
            migrate_legacy(self.path, self.rebuild)

    # -- rows <-> jobs -----------------------------------------------------------------------
    def _definition(self, job: Job) -> str:
        if job.func_ref != self.job_func or job.args:
            raise ScheduleError(f"job {job.id!r} calls {job.func_ref!r} with {len(job.args)} "
                                f"positional argument(s); hub's job store keeps only "
                                f"{self.job_func} with keyword arguments")
        try:
            return json.dumps({
                "version": 1, "spec": job.kwargs, "trigger": trigger_to_json(job.trigger),
                "name": job.name, "executor": job.executor,
                "misfire_grace_time": job.misfire_grace_time, "coalesce": job.coalesce,
                "max_instances": job.max_instances,
            }, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ScheduleError(f"job {job.id!r} cannot be stored as JSON: {exc}") from None

    def _job(self, job_id: str, next_run: float | None, definition: str) -> Job:
        data = json.loads(definition)
        if not isinstance(data, dict) or data.get("version") != 1:
            raise ValueError("not a job definition of version 1")
        trigger = trigger_from_json(data["trigger"])
        job = Job.__new__(Job)
        job.__setstate__({
            "version": 1, "id": job_id, "func": self.job_func, "trigger": trigger,
            "executor": str(data.get("executor", "default")), "args": (),
            "kwargs": dict(data["spec"]), "name": str(data.get("name") or job_id),
            "misfire_grace_time": data.get("misfire_grace_time"),
            "coalesce": bool(data.get("coalesce", True)),
            "max_instances": int(data.get("max_instances", 1)),
            "next_run_time": (datetime.fromtimestamp(next_run, tz=trigger.timezone)
                              if next_run is not None else None),
        })
        job._scheduler = self._scheduler
        job._jobstore_alias = self._alias
        return job

    def _jobs(self, where: str = "", params: tuple[Any, ...] = ()) -> list[Job]:
        db = self._db()
        try:
            rows = db.execute(f"SELECT id, next_run_time, definition FROM {TABLE} {where} "  # noqa: S608
                              "ORDER BY next_run_time", params).fetchall()
        finally:
            db.close()
        jobs = []
        for row in rows:
            try:
                jobs.append(self._job(row["id"], row["next_run_time"], row["definition"]))
            except Exception as exc:  # kept in the table: a person decides, nothing is lost
                logger.warning("scheduled job %s cannot be read from %s (%s); it is kept but "
                               "not scheduled: `hub schedule add %s ... --replace` rewrites it",
                               row["id"], self.path, exc, row["id"])
        return jobs

    # -- APScheduler's interface -------------------------------------------------------------
    def lookup_job(self, job_id: str) -> Job | None:
        found = self._jobs("WHERE id = ?", (job_id,))
        return found[0] if found else None

    def get_due_jobs(self, now: datetime) -> list[Job]:
        return self._jobs("WHERE next_run_time <= ?", (now.timestamp(),))

    def get_next_run_time(self) -> datetime | None:
        db = self._db()
        try:
            row = db.execute(f"SELECT id, next_run_time, definition FROM {TABLE} "  # noqa: S608
                             "WHERE next_run_time IS NOT NULL ORDER BY next_run_time "
                             "LIMIT 1").fetchone()
        finally:
            db.close()
        if row is None:
            return None
        timezone = trigger_from_json(json.loads(row["definition"])["trigger"]).timezone
        return datetime.fromtimestamp(row["next_run_time"], tz=timezone)

    def get_all_jobs(self) -> list[Job]:
        jobs = self._jobs()
        self._fix_paused_jobs_sorting(jobs)
        return jobs

    def add_job(self, job: Job) -> None:
        definition = self._definition(job)
        db = self._db()
        try:
            db.execute(f"INSERT INTO {TABLE} (id, next_run_time, definition) "  # noqa: S608
                       "VALUES (?, ?, ?)", (job.id, _timestamp(job.next_run_time), definition))
        except sqlite3.IntegrityError:
            raise ConflictingIdError(job.id) from None
        finally:
            db.close()

    def update_job(self, job: Job) -> None:
        definition = self._definition(job)
        db = self._db()
        try:
            changed = db.execute(f"UPDATE {TABLE} SET next_run_time = ?, "  # noqa: S608
                                 "definition = ? WHERE id = ?",
                                 (_timestamp(job.next_run_time), definition, job.id)).rowcount
        finally:
            db.close()
        if not changed:
            raise JobLookupError(job.id)

    def remove_job(self, job_id: str) -> None:
        db = self._db()
        try:
            removed = db.execute(f"DELETE FROM {TABLE} WHERE id = ?",  # noqa: S608
                                 (job_id,)).rowcount
        finally:
            db.close()
        if not removed:
            raise JobLookupError(job_id)

    def remove_all_jobs(self) -> None:
        db = self._db()
        try:
            db.execute(f"DELETE FROM {TABLE}")  # noqa: S608
        finally:
            db.close()

    def __repr__(self) -> str:
        return f"<JsonJobStore ({self.path})>"


# -- the old pickled table ---------------------------------------------------------------------
class _Inert:
    """What every global of an old job pickle becomes: holds its arguments, runs nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __call__(self, *args: Any, **kwargs: Any) -> _Inert:  # a "method" a pickle calls
        return _Inert(*args)


class _NoGlobals(pickle.Unpickler):
    """An unpickler that resolves no class or function: each becomes ``_Inert``."""

    def find_class(self, module: str, name: str) -> Any:
        return _Inert


def legacy_spec(blob: bytes) -> dict[str, Any]:
    """The keyword arguments (a hub job's spec) of an old pickled job, read without resolving
    any global (``_NoGlobals``); ``ValueError`` if they are not a plain dict of JSON values."""
    state = _NoGlobals(io.BytesIO(blob)).load()
    kwargs = state.get("kwargs") if isinstance(state, dict) else None
    if not isinstance(kwargs, dict):
        raise ValueError("no keyword arguments in the old row")
    json.dumps(kwargs, allow_nan=False)  # only JSON values: an _Inert in them is refused
    return kwargs


def migrate_legacy(path: Path, rebuild: Callable[[str], Any]) -> list[str]:
    """Move the jobs of the old pickled table into ``hub_jobs`` (module docstring):
    ``rebuild(schedule)`` makes the trigger of a spec's schedule text. Returns the ids moved."""
    db = connect(path, what="the job store", error=ScheduleError, schema=_SCHEMA)
    try:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                          (LEGACY_TABLE,)).fetchone():
            return []
        rows = db.execute(f"SELECT id, next_run_time, job_state FROM {LEGACY_TABLE}"  # noqa: S608
                          ).fetchall()
        moved = []
        for row in rows:
            try:
                spec = legacy_spec(row["job_state"])
                trigger = rebuild(str(spec.get("schedule", "")))
                definition = json.dumps({
                    "version": 1, "spec": spec, "trigger": trigger_to_json(trigger),
                    "name": row["id"], "executor": "default", "misfire_grace_time": None,
                    "coalesce": True, "max_instances": 1}, allow_nan=False)
            except Exception as exc:
                logger.warning("the old scheduled job %s in %s cannot be migrated (%s); it is "
                               "left in the table %s and not scheduled: add it again with "
                               "`hub schedule add`", row["id"], path, exc, LEGACY_TABLE)
                continue
            db.execute("BEGIN IMMEDIATE")
            db.execute(f"INSERT OR IGNORE INTO {TABLE} (id, next_run_time, definition) "  # noqa: S608
                       "VALUES (?, ?, ?)", (row["id"], row["next_run_time"], definition))
            db.execute(f"DELETE FROM {LEGACY_TABLE} WHERE id = ?", (row["id"],))  # noqa: S608
            db.execute("COMMIT")
            moved.append(str(row["id"]))
        if not db.execute(f"SELECT 1 FROM {LEGACY_TABLE} LIMIT 1").fetchone():  # noqa: S608
            db.execute(f"DROP TABLE {LEGACY_TABLE}")
        if moved:
            logger.warning("migrated %d scheduled job(s) of %s from pickles to JSON: %s",
                           len(moved), path, ", ".join(moved))
        return moved
    finally:
        db.close()
