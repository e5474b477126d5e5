"""`hub doctor`'s scheduler checks and the scheduler's heartbeat."""

from __future__ import annotations

import threading

from hub_kernel.core.config import get_settings
from hub_kernel.doctor import check_champions, check_runs, check_scheduler
from hub_kernel.schedule.daemon import Daemon, scheduler_state
from hub_kernel.schedule.history import RunHistory
from hub_kernel.schedule.jobs import JobStore
from hub_kernel.schedule.spec import JobSpec


def test_a_fresh_home_passes_every_scheduler_check(runs_home):
    settings = get_settings()
    for check in (check_scheduler, check_runs, check_champions):
        assert check(settings).status == "ok", check(settings)
    assert not (runs_home / "scheduler.db").exists()  # checking creates no job store


def test_jobs_without_a_running_scheduler_warn_and_a_running_one_is_seen(schedule_home,
                                                                         notebooks):
    JobStore().add(JobSpec("hourly", str(notebooks / "passing.ipynb")), every="1h")
    check = check_scheduler(get_settings())
    assert check.status == "warn" and "`hub scheduler start`" in check.detail
    assert "never started" in check.detail
    daemon = Daemon()
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        assert daemon.started.wait(30)
        state = scheduler_state()
        assert state.alive and state.beat_age is not None
        check = check_scheduler(get_settings())
        assert check.status == "ok" and "1 job(s); next run" in check.detail
    finally:
        daemon.stop()
        thread.join(30)
    assert check_scheduler(get_settings()).status == "warn"
    assert "stopped at" in scheduler_state().detail


def test_a_failed_last_run_warns_with_its_error(schedule_home):
    history = RunHistory()
    first = history.start(job="nightly", notebook="n.ipynb", parameters={}, trigger="schedule")
    history.finish(first, status="failed", outcome="failed", error="ValueError: boom")
    second = history.start(job="hourly", notebook="h.ipynb", parameters={}, trigger="schedule")
    history.finish(second, status="succeeded", outcome="held")
    check = check_runs(get_settings())
    assert check.status == "warn" and "nightly failed at" in check.detail
    assert "ValueError: boom" in check.detail and "hourly" not in check.detail
    again = history.start(job="nightly", notebook="n.ipynb", parameters={}, trigger="retry")
    history.finish(again, status="succeeded")
    assert check_runs(get_settings()).status == "ok"
