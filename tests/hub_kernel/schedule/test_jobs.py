"""Job specs and the APScheduler SQLite job store, through the `hub schedule` command. No kernel
is started here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from hub_kernel.exceptions import ScheduleError
from hub_kernel.schedule.jobs import JobStore, make_trigger, parse_every, parse_parameters
from hub_kernel.schedule.spec import JobSpec, check_job_name

runner = CliRunner()


def hub(*args: str, code: int = 0) -> str:
    from hub_kernel.cli import app

    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


@pytest.mark.parametrize(("text", "seconds"), [
    ("1s", 1), ("30s", 30), ("5m", 300), ("1h", 3600), ("2d", 172800), (" 10M ", 600),
])
def test_every_accepts_a_number_and_a_unit(text, seconds):
    assert parse_every(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "1", "h", "0s", "-1h", "1.5h", "1w", "1 hour", "5x"])
def test_every_refuses_anything_else_clearly(text):
    with pytest.raises(ScheduleError, match=r"use a positive number and a unit, e\.g\. 30s"):
        parse_every(text)


def test_cron_weekdays_follow_crontab_not_apscheduler_numbering():
    # crontab: 1-5 = Monday to Friday, 0 and 7 = Sunday (APScheduler 3 starts its numbers on Monday)
    monday = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # a Monday
    trigger, text = make_trigger(cron="0 9 * * 1-5", timezone=UTC)
    assert text == "cron 0 9 * * 1-5"
    fire = trigger.get_next_fire_time(None, monday)
    assert fire == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    sunday, _ = make_trigger(cron="30 6 * * 0", timezone=UTC)
    assert sunday.get_next_fire_time(None, monday).weekday() == 6
    seventh, _ = make_trigger(cron="30 6 * * 7", timezone=UTC)
    assert seventh.get_next_fire_time(None, monday).weekday() == 6
    weekend, _ = make_trigger(cron="0 0 * * 6,0", timezone=UTC)
    assert weekend.get_next_fire_time(None, monday).weekday() == 5
    named, _ = make_trigger(cron="0 0 * * sat", timezone=UTC)
    assert named.get_next_fire_time(None, monday).weekday() == 5
    hourly, _ = make_trigger(cron="0 * * * *", timezone=UTC)
    assert hourly.get_next_fire_time(None, monday) == monday


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "give exactly one schedule"),
    ({"every": "1h", "cron": "0 * * * *"}, "give exactly one schedule"),
    ({"cron": "0 * * *"}, "give 5 fields"),
    ({"cron": "61 * * * *"}, "invalid cron expression"),
    ({"cron": "0 * * * 9"}, "invalid day of week"),
])
def test_bad_schedules_are_schedule_errors(kwargs, message):
    with pytest.raises(ScheduleError, match=message):
        make_trigger(**kwargs)


def test_parameters_are_json_when_they_parse_else_text():
    assert parse_parameters(["n=3", "x=0.5", "flag=true", "none=null", "cols=[\"a\", \"b\"]",
                             "path=/data/sales.csv", "empty=", "eq=a=b"]) == {
        "n": 3, "x": 0.5, "flag": True, "none": None, "cols": ["a", "b"],
        "path": "/data/sales.csv", "empty": "", "eq": "a=b"}
    for bad in ("novalue", "=3", "not a name=1"):
        with pytest.raises(ScheduleError, match="use key=value"):
            parse_parameters([bad])


@pytest.mark.parametrize("name", ["", "-x", "a b", "a/b", "x" * 65, "dot.ted", "../up",
                                  "alice\n", "alice\r\n"])
def test_job_names_are_folder_safe(name):
    with pytest.raises(ScheduleError, match="invalid job name"):
        check_job_name(name)


def test_store_add_list_replace_remove_and_survive_a_new_store(schedule_home, notebooks):
    spec = JobSpec("hourly", str(notebooks / "passing.ipynb"), {"value": 7})
    job = JobStore().add(spec, every="1h")
    assert job.schedule == "every 1h" and job.next_run is not None
    assert timedelta(minutes=59) < job.next_run - datetime.now(UTC) <= timedelta(hours=1)
    with pytest.raises(ScheduleError, match="exists; pass --replace"):
        JobStore().add(spec, every="5m")
    JobStore().add(JobSpec("hourly", str(notebooks / "passing.ipynb"), {"value": 8}),
                   cron="0 * * * *", replace=True)
    (stored,) = JobStore().list()  # a new store object reads the same SQLite file
    assert stored.spec.parameters == {"value": 8} and stored.schedule == "cron 0 * * * *"
    assert stored.spec.notebook == str(notebooks / "passing.ipynb")
    assert (schedule_home / "scheduler.db").is_file()
    JobStore().remove("hourly")
    assert JobStore().list() == []
    with pytest.raises(ScheduleError, match="no job named 'hourly'"):
        JobStore().remove("hourly")


def test_notebooks_must_exist_declare_parameters_and_take_the_given_ones(
        schedule_home, notebooks, tmp_path):
    store = JobStore()
    with pytest.raises(ScheduleError, match="notebook not found"):
        store.add(JobSpec("x", str(tmp_path / "missing.ipynb")), every="1h")
    with pytest.raises(ScheduleError, match="has no parameter 'nope'; it takes: message"):
        store.add(JobSpec("x", str(notebooks / "failing.ipynb"), {"nope": 1}), every="1h")
    import nbformat

    bare = nbformat.v4.new_notebook()
    bare.cells = [nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(bare, tmp_path / "bare.ipynb")
    with pytest.raises(ScheduleError, match="no cell tagged 'parameters'"):
        store.add(JobSpec("x", str(tmp_path / "bare.ipynb")), every="1h")
    (tmp_path / "text.ipynb").write_text("not json")
    with pytest.raises(ScheduleError, match="cannot be read as a notebook"):
        store.add(JobSpec("x", str(tmp_path / "text.ipynb")), every="1h")
    assert store.list() == []


def test_the_command_line(schedule_home, notebooks, repo):
    out = hub("schedule", "add", "nightly", "--cron", "0 2 * * *", "--notebook",
              str(notebooks / "passing.ipynb"), "-p", "value=3", "--retries", "1")
    assert "scheduled nightly (cron 0 2 * * *)" in out and "value=3" in out
    out = hub("schedule", "add", "retrain", "--every", "1d", "-p", "model=sales-churned")
    assert str(repo / "notebooks" / "retrain.ipynb") in out  # the default notebook
    listed = hub("schedule", "list")
    assert "nightly" in listed and "retrain" in listed and "every 1d" in listed
    assert "--every (e.g. 1h) or --cron" in hub("schedule", "add", "x", code=1)
    assert "invalid interval '90'" in hub("schedule", "add", "x", "--every", "90", code=1)
    assert "invalid job name" in hub("schedule", "add", "a/b", "--every", "1h", code=1)
    assert "no job named 'ghost'" in hub("schedule", "run-now", "ghost", code=1)
    typo = hub("schedule", "add", "x", "--every", "1h", "-p", "modle=m", code=1)
    assert "retrain.ipynb has no parameter 'modle'; it takes: cv, decay_threshold" in typo
    hub("schedule", "remove", "nightly")
    assert "nightly" not in hub("schedule", "list")
    assert "no runs yet" in hub("schedule", "runs")
    status = hub("status", "--no-drift")
    assert "scheduler: not running (never started here" in status and "retrain" in status
