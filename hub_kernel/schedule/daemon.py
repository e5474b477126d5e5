"""``hub scheduler start``: the foreground scheduler that runs the stored jobs.

One scheduler per ``HUB_HOME`` (a file lock, released by the system however the process ends).
APScheduler's ``BackgroundScheduler`` runs the jobs of the SQLite store in worker threads
(misfires coalesce into one run, ``max_instances=1``, a misfire grace time); the main thread
writes a heartbeat (``$HUB_HOME/scheduler.json``) every ``HUB_SCHEDULER_HEARTBEAT_SECONDS`` and
wakes the scheduler, so jobs added or removed by ``hub schedule`` meanwhile are seen.

On SIGTERM or SIGINT it stops cleanly: no new runs or retries, running notebooks get
``HUB_SCHEDULER_SHUTDOWN_GRACE_SECONDS`` to finish, then their kernels are stopped and the runs
recorded failed ("interrupted"); the heartbeat says ``stopped``. After a ``kill -9`` the next
start repairs what the killed one left: runs still marked running are marked failed and their
kernels stopped.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub_kernel.core.process import alive, this_process
from hub_kernel.exceptions import ScheduleError
from hub_kernel.schedule.lock import FileLock

if TYPE_CHECKING:
    from hub_kernel.core.config import Settings

logger = logging.getLogger("hub_kernel")

HEARTBEAT_FILE = "scheduler.json"
LOCK_FILE = "scheduler.lock"


def heartbeat_path(settings: Settings) -> Path:
    return settings.home / HEARTBEAT_FILE


@dataclass(frozen=True)
class SchedulerState:
    """Whether a scheduler runs for this ``HUB_HOME``, as its heartbeat and process tell."""

    alive: bool
    detail: str
    pid: int | None = None
    host: str | None = None
    started_at: str | None = None
    beat_at: str | None = None
    beat_age: float | None = None  # seconds since the last heartbeat


def scheduler_state(settings: Settings | None = None) -> SchedulerState:
    """Read the heartbeat: alive when it is recent and its process still runs."""
    from hub_kernel.core.config import get_settings

    settings = settings or get_settings()
    path = heartbeat_path(settings)
    try:
        beat = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return SchedulerState(False, "never started here (`hub scheduler start` starts it)")
    except (OSError, ValueError) as exc:
        return SchedulerState(False, f"heartbeat {path} unreadable: {exc}")
    pid, host = beat.get("pid"), beat.get("host")
    beat_at = beat.get("beat_at")
    age = None
    if beat_at:
        age = (datetime.now(UTC) - datetime.fromisoformat(beat_at)).total_seconds()
    common: dict[str, Any] = {"pid": pid, "host": host, "started_at": beat.get("started_at"),
                              "beat_at": beat_at, "beat_age": age}
    if beat.get("state") == "stopped":
        return SchedulerState(False, f"stopped at {beat_at}", **common)
    limit = 3 * float(beat.get("interval") or settings.scheduler_heartbeat_seconds) + 5
    if host == this_process()["host"] and not alive(pid, beat.get("pid_started")):
        return SchedulerState(False, f"process {pid} ended without stopping (killed?); last "
                                     f"heartbeat {beat_at}", **common)
    if age is not None and age > limit:
        return SchedulerState(False, f"no heartbeat for {age:.0f} s (process {pid} on {host} "
                                     "hangs or is gone)", **common)
    return SchedulerState(True, f"running as process {pid} on {host} since "
                                f"{beat.get('started_at')}", **common)


class Daemon:
    """The scheduler process. ``run()`` blocks until ``stop()`` (or SIGTERM/SIGINT)."""

    def __init__(self, settings: Settings | None = None, *,
                 heartbeat_seconds: float | None = None, max_workers: int = 4) -> None:
        from hub_kernel.core.config import get_settings

        self.settings = settings or get_settings()
        self.heartbeat_seconds = heartbeat_seconds or self.settings.scheduler_heartbeat_seconds
        self.max_workers = max_workers
        self.stop_event = threading.Event()
        self.started = threading.Event()  # set once jobs are being scheduled
        self._started_at = ""

    def stop(self) -> None:
        self.stop_event.set()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        """First signal: stop cleanly. A second one: stop the running notebooks now."""
        from hub_kernel.schedule import runner

        if self.stop_event.is_set():
            runner.cancel_active(f"the scheduler was stopped ({signal.Signals(signum).name})")
        self.stop_event.set()

    def _beat(self, state: str) -> None:
        from hub_kernel.schedule import runner

        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        data = {**this_process(), "state": state, "started_at": self._started_at,
                "beat_at": now, "interval": self.heartbeat_seconds,
                "running": runner.active_runs(), "home": str(self.settings.home)}
        path = heartbeat_path(self.settings)
        tmp = path.with_suffix(".json.tmp")
        try:
            tmp.write_text(json.dumps(data), encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            logger.error("cannot write the scheduler heartbeat %s: %s", path, exc)

    def run(self, *, install_signals: bool = True) -> None:
        """Schedule the stored jobs until stopped; ``ScheduleError`` if another scheduler runs
        for this ``HUB_HOME``."""
        from apscheduler.events import EVENT_JOB_MISSED
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        from hub_kernel.core.redact import secrets_of
        from hub_kernel.schedule import runner
        from hub_kernel.schedule.history import RunHistory
        from hub_kernel.schedule.jobs import JobStore, timezone_of

        self.settings.ensure_home()
        lock = FileLock(self.settings.home / LOCK_FILE, what="the scheduler")
        if not lock.acquire(timeout=2.0):
            who = lock.holder()
            raise ScheduleError(
                f"a scheduler already runs for {self.settings.home} (process "
                f"{who.get('pid', '?')} on {who.get('host', '?')}); stop it first "
                "(`hub scheduler stop`)")
        previous: dict[signal.Signals, Any] = {}
        scheduler = None
        try:
            self._started_at = datetime.now(UTC).isoformat(timespec="seconds")
            runner.set_stop_event(self.stop_event)
            store = JobStore(self.settings)
            try:
                secrets = {job.name: secrets_of(job.spec.parameters) for job in store.list()}
            except ScheduleError:  # an unreadable store fails below, with its own message
                secrets = {}
            repaired = RunHistory().recover_stale(secrets=secrets)  # credentials out of them
            if repaired:
                logger.warning("marked %d interrupted run(s) failed", len(repaired))
            scheduler = BackgroundScheduler(
                jobstores={"default": store.jobstore()},
                executors={"default": ThreadPoolExecutor(self.max_workers)},
                job_defaults=store.job_defaults(), timezone=timezone_of(self.settings))
            scheduler.add_listener(
                lambda e: logger.warning("job %s missed its run at %s (the scheduler was down "
                                         "longer than the misfire grace time)", e.job_id,
                                         e.scheduled_run_time), EVENT_JOB_MISSED)
            if install_signals and threading.current_thread() is threading.main_thread():
                for sig in (signal.SIGTERM, signal.SIGINT):
                    previous[sig] = signal.signal(sig, self._on_signal)
            scheduler.start()
            self._beat("running")
            self.started.set()
            logger.info("scheduler started (process %d, jobs in %s)", os.getpid(), store.path)
            while not self.stop_event.wait(self.heartbeat_seconds):
                self._beat("running")
                scheduler.wakeup()  # see jobs added or removed by other processes
        finally:
            self.stop_event.set()
            if scheduler is not None:
                self._shutdown(scheduler)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._beat("stopped")
            runner.set_stop_event(threading.Event())
            lock.release()
            logger.info("scheduler stopped")

    def _shutdown(self, scheduler: Any) -> None:
        """No new runs; let running notebooks finish within the grace time, then stop them."""
        from hub_kernel.schedule import runner

        scheduler.shutdown(wait=False)
        grace = self.settings.scheduler_shutdown_grace_seconds
        deadline = time.monotonic() + grace
        if runner.busy():
            logger.info("waiting up to %g s for running notebooks to finish", grace)
        while runner.busy() and time.monotonic() < deadline:
            self._beat("stopping")
            time.sleep(0.1)
        if runner.busy():
            stopped = runner.cancel_active("the scheduler was stopped")
            logger.warning("stopped %d running notebook(s)", stopped)
            deadline = time.monotonic() + 30
            while runner.busy() and time.monotonic() < deadline:
                time.sleep(0.1)


def stop_scheduler(settings: Settings | None = None, *, timeout: float = 60.0) -> int:
    """SIGTERM the scheduler of this ``HUB_HOME`` and wait until it stops; returns its pid."""
    from hub_kernel.core.config import get_settings

    settings = settings or get_settings()
    state = scheduler_state(settings)
    if not state.alive or not state.pid:
        raise ScheduleError(f"no scheduler is running for {settings.home}: {state.detail}")
    if state.host != this_process()["host"]:
        raise ScheduleError(f"the scheduler runs on {state.host}; stop it there")
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(state.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(state.pid):
        raise ScheduleError(f"the scheduler (process {state.pid}) did not stop within "
                            f"{timeout:g} s")
    return state.pid
