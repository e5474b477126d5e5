"""The scheduler: a job every second runs several times; `kill -9` mid-run, then a restart, keeps
the job store, runs the job again and never runs two copies at once; SIGTERM stops it cleanly."""

from __future__ import annotations

import itertools
import json
import os
import signal
import threading
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub_kernel.core.process import alive
from hub_kernel.exceptions import ScheduleError
from hub_kernel.schedule.daemon import Daemon, scheduler_state
from hub_kernel.schedule.history import RunHistory
from hub_kernel.schedule.jobs import JobStore
from hub_kernel.schedule.spec import JobSpec

pytestmark = pytest.mark.slow


def intervals(log: Path) -> dict[int, tuple[float, float, bool]]:
    """Per kernel pid (one per run): first and last time it wrote, and whether it ended."""
    seen: dict[int, tuple[float, float, bool]] = {}
    for line in log.read_text().splitlines():
        kind, pid_text, when_text = line.split()
        pid, when = int(pid_text), float(when_text)
        first, _, ended = seen.get(pid, (when, when, False))
        seen[pid] = (first, when, ended or kind == "end")
    return seen


def assert_no_overlap(spans) -> None:
    ordered = sorted(spans)
    for (_, end), (start, _) in itertools.pairwise(ordered):
        assert start > end, f"two runs overlapped: {ordered}"


def test_a_job_every_second_runs_several_times_and_leaves_executed_notebooks(
        runs_home, notebooks, tmp_path, wait_for):
    log = tmp_path / "log.txt"
    JobStore().add(JobSpec("tick", str(notebooks / "passing.ipynb"),
                           {"value": 2, "log_path": str(log)}), every="1s")
    daemon = Daemon()
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        assert daemon.started.wait(30)
        assert scheduler_state().alive
        wait_for(lambda: len(RunHistory().runs("tick", status="succeeded")) >= 3, 90,
                 "three runs of a one-second job")
        # jobs added while it runs are picked up at the next heartbeat
        JobStore().add(JobSpec("late", str(notebooks / "passing.ipynb")), every="1s")
        wait_for(lambda: RunHistory().runs("late", status="succeeded"), 60, "the late job")
    finally:
        daemon.stop()
        thread.join(60)
    assert not thread.is_alive()
    state = scheduler_state()
    assert not state.alive and state.detail.startswith("stopped at")
    runs = RunHistory().runs("tick")
    assert len(runs) >= 3 and all(r.status == "succeeded" and r.outcome == "done-2" for r in runs)
    for record in runs:
        assert Path(record.output).is_file() and Path(record.html).is_file()
        assert record.trigger == "schedule" and record.mlflow_run_id
    kept = sorted((runs_home / "runs" / "tick").glob("*.ipynb"))
    assert len(kept) == len(runs) and len(log.read_text().splitlines()) == len(runs)
    assert_no_overlap((datetime.fromisoformat(r.started_at).timestamp(),
                       datetime.fromisoformat(r.finished_at).timestamp()) for r in runs)


def test_kill_9_mid_run_then_restart_keeps_the_store_and_never_runs_two_copies(
        runs_home, notebooks, tmp_path, wait_for, spawn_hub):
    from hub_kernel.cli import app

    log = tmp_path / "log.txt"
    log.touch()
    result = CliRunner().invoke(app, [
        "schedule", "add", "slow", "--every", "1s", "--retries", "0", "--notebook",
        str(notebooks / "slow.ipynb"), "-p", f"log_path={log}", "-p", "seconds=2.5"])
    assert result.exit_code == 0, result.output

    first = spawn_hub("scheduler", "start", log=tmp_path / "scheduler-1.log")
    wait_for(lambda: "tick" in log.read_text(), 90, "a run to be under way")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    killed_run = next(iter(intervals(log)))
    (interrupted,) = RunHistory().runs("slow", status="running")  # left behind by the kill
    assert [j.name for j in JobStore().list()] == ["slow"]  # the job store is intact
    assert "ended without stopping" in scheduler_state().detail

    second = spawn_hub("scheduler", "start", log=tmp_path / "scheduler-2.log")
    wait_for(lambda: any(ended for *_, ended in intervals(log).values()), 120,
             "a run to finish after the restart")
    with pytest.raises(ScheduleError, match="a scheduler already runs"):
        Daemon().run(install_signals=False)  # one scheduler per HUB_HOME
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=60) == 0  # a clean stop
    output = (tmp_path / "scheduler-2.log").read_text()
    assert "scheduler stopped" in output, output

    spans = intervals(log)
    assert_no_overlap((start, end) for start, end, _ in spans.values())
    assert not spans[killed_run][2] and not alive(killed_run)  # its kernel ended with it
    repaired = RunHistory().get(interrupted.id)
    assert repaired.status == "failed" and repaired.error.startswith("interrupted: process")
    assert Path(repaired.output).is_file()  # what it had done is kept
    statuses = [r.status for r in RunHistory().runs("slow")]
    assert "running" not in statuses and statuses.count("succeeded") >= 1
    assert statuses.count("succeeded") == sum(ended for *_, ended in spans.values())
    beat = json.loads((runs_home / "scheduler.json").read_text())
    assert beat["state"] == "stopped" and beat["pid"] == second.pid
    assert not os.path.exists(f"/proc/{second.pid}") or not alive(second.pid)
