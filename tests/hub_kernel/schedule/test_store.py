"""The job store keeps jobs as JSON rows (never pickles), they survive a restart, and the pickled
rows of an older hub are migrated without running anything in them."""

from __future__ import annotations

import json
import pickle
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from hub_kernel.exceptions import ScheduleError
from hub_kernel.schedule.jobs import JOB_FUNC, JobStore
from hub_kernel.schedule.spec import JobSpec


class _WritesMarker:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def _rows(path):
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        rows = db.execute("SELECT id, next_run_time, definition FROM hub_jobs").fetchall()
    return tables, rows


def test_jobs_are_json_rows_and_survive_a_restart(schedule_home, notebooks):
    passing = str(notebooks / "passing.ipynb")
    added = {
        "hourly": JobStore().add(JobSpec("hourly", passing, {"value": 7}), every="1h"),
        "weekdays": JobStore().add(JobSpec("weekdays", passing, {"value": 1}, retries=2),
                                   cron="30 6 * * 1-5"),
    }
    tables, rows = _rows(schedule_home / "scheduler.db")
    assert "apscheduler_jobs" not in tables and len(rows) == 2
    for job_id, next_run, definition in rows:
        assert isinstance(definition, str)
        data = json.loads(definition)  # JSON, not a pickle
        assert data["spec"]["name"] == job_id and "func" not in data
        assert next_run == pytest.approx(added[job_id].next_run.timestamp())
    assert json.loads(dict((r[0], r[2]) for r in rows)["weekdays"])["trigger"]["fields"][
        "day_of_week"] == "mon,tue,wed,thu,fri"

    # a restart: a new store over the same file, then a scheduler that schedules from it
    listed = {job.name: job for job in JobStore().list()}
    assert listed["hourly"].spec.parameters == {"value": 7}
    assert listed["weekdays"].spec.retries == 2 and listed["weekdays"].schedule == \
        "cron 30 6 * * 1-5"
    for name, job in added.items():
        assert listed[name].next_run == job.next_run
    from apscheduler.schedulers.background import BackgroundScheduler

    store = JobStore()
    scheduler = BackgroundScheduler(jobstores={"default": store.jobstore()},
                                    job_defaults=store.job_defaults())
    scheduler.start(paused=True)
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert jobs["hourly"].func_ref == JOB_FUNC and jobs["hourly"].kwargs["parameters"] == {
            "value": 7}
        later = datetime.now(UTC) + timedelta(days=3)
        nxt = jobs["weekdays"].trigger.get_next_fire_time(None, later)
        assert nxt.weekday() < 5 and (nxt.hour, nxt.minute) == (6, 30)
    finally:
        scheduler.shutdown(wait=False)


def test_a_row_cannot_choose_the_function_and_other_functions_are_not_stored(
        schedule_home, notebooks):
    JobStore().add(JobSpec("hourly", str(notebooks / "passing.ipynb")), every="1h")
    path = schedule_home / "scheduler.db"
    with sqlite3.connect(path) as db:
        (definition,) = db.execute("SELECT definition FROM hub_jobs").fetchone()
        data = json.loads(definition) | {"func": "os:system", "args": ["touch /tmp/x"]}
        db.execute("UPDATE hub_jobs SET definition = ?", (json.dumps(data),))
    from apscheduler.schedulers.background import BackgroundScheduler

    store = JobStore()
    scheduler = BackgroundScheduler(jobstores={"default": store.jobstore()})
    scheduler.start(paused=True)
    try:
        (job,) = scheduler.get_jobs()
        assert job.func_ref == JOB_FUNC and job.args == ()
        with pytest.raises(ScheduleError, match=r"keeps only hub_kernel\.schedule\.jobs"):
            scheduler.add_job("os:system", "interval", seconds=5, args=["true"], id="evil")
    finally:
        scheduler.shutdown(wait=False)


def test_pickled_rows_of_an_older_hub_are_migrated_without_running_anything(
        schedule_home, notebooks, tmp_path, caplog):
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    path = schedule_home / "scheduler.db"
    spec = JobSpec("nightly", str(notebooks / "passing.ipynb"), {"value": 3},
                   schedule="cron 0 2 * * *")
    old = BackgroundScheduler(jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{path}")})
    old.start(paused=True)
    old.add_job(JOB_FUNC, "cron", hour=2, minute=0, id="nightly", kwargs=spec.to_kwargs())
    old.shutdown(wait=False)
    marker = tmp_path / "marker"
    planted = {"version": 1, "id": "planted", "func": JOB_FUNC, "kwargs": {
        "name": "planted", "notebook": "x", "schedule": "every 1h",
        "parameters": {"p": _WritesMarker(marker)}}}
    with sqlite3.connect(path) as db:
        (when,) = db.execute("SELECT next_run_time FROM apscheduler_jobs").fetchone()
        db.execute("INSERT INTO apscheduler_jobs VALUES (?, ?, ?)",
                   ("planted", when, pickle.dumps(planted)))
        db.execute("INSERT INTO apscheduler_jobs VALUES (?, ?, ?)",
                   ("bomb", when, pickle.dumps(_WritesMarker(marker))))

    with caplog.at_level("WARNING", logger="hub_kernel"):
        (job,) = JobStore().list()
    assert job.name == "nightly" and job.spec.parameters == {"value": 3}
    assert job.schedule == "cron 0 2 * * *" and job.next_run.timestamp() == pytest.approx(when)
    assert not marker.exists()  # nothing in the pickles ran
    assert "planted" in caplog.text and "bomb" in caplog.text and "hub schedule add" in caplog.text
    _, rows = _rows(path)
    assert [r[0] for r in rows] == ["nightly"] and json.loads(rows[0][2])
    with sqlite3.connect(path) as db:  # the rows it could not read are kept, not scheduled
        kept = {r[0] for r in db.execute("SELECT id FROM apscheduler_jobs")}
    assert kept == {"planted", "bomb"}
