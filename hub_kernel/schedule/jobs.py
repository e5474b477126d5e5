"""Scheduled jobs: a notebook, its parameters and a schedule, kept as JSON in hub's SQLite store.

The job store is ``$HUB_HOME/scheduler.db`` (``schedule.store.JsonJobStore``: JSON rows, never
pickles; the pickled rows of an older hub are migrated on start): jobs survive restarts, and
``hub schedule add/list/remove`` change it while ``hub scheduler start`` runs (the scheduler
looks at the store at every heartbeat). Each job runs
``hub_kernel.schedule.jobs:run_scheduled_job`` with its spec; misfires coalesce into one run and
one job never runs twice at once (``max_instances=1`` in a scheduler, a file lock across
processes).

Schedules: ``every="1h"`` (a number and one of s, m, h, d) or a crontab line, ``cron="0 * * *
*"`` (minute hour day month weekday; weekdays as in crontab, 0 or 7 is Sunday), in
``HUB_SCHEDULER_TIMEZONE`` (default: this machine's time zone).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub_kernel.exceptions import ScheduleError
from hub_kernel.schedule.spec import JobSpec, check_job_name

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler
    from apscheduler.triggers.base import BaseTrigger

    from hub_kernel.core.config import Settings

logger = logging.getLogger("hub_kernel")

JOB_FUNC = "hub_kernel.schedule.jobs:run_scheduled_job"
RETRAIN_NOTEBOOK = "retrain.ipynb"
_EVERY = re.compile(r"\s*(\d+)\s*([smhd])\s*", re.I)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# the store's own scheduler starts and stops on every command: not news worth a log line
_QUIET = logging.getLogger("hub_kernel.schedule.store")
_QUIET.setLevel(logging.WARNING)


def parse_every(text: str) -> timedelta:
    """``"30s"``, ``"5m"``, ``"1h"``, ``"1d"`` as a positive interval."""
    match = _EVERY.fullmatch(text or "")
    if not match or int(match.group(1)) <= 0:
        raise ScheduleError(
            f"invalid interval {text!r}: use a positive number and a unit, e.g. 30s, 5m, 1h or 1d"
        )
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2).lower()])


def describe_interval(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _crontab_weekdays(text: str) -> str:
    """Crontab's day-of-week field (0 or 7 = Sunday) in APScheduler 3's terms (names: its
    numbers start on Monday)."""
    if text == "*" or re.fullmatch(r"[A-Za-z,\-]+", text):
        return text  # names mean the same to both
    days: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() else 1
        if body == "*":
            first, last = 0, 6
        elif re.fullmatch(r"\d+", body):
            first = last = int(body)
            if step_text:
                last = 6
        elif re.fullmatch(r"\d+-\d+", body):
            first, last = (int(x) for x in body.split("-"))
        else:
            raise ScheduleError(f"invalid day of week {part!r} in the cron expression")
        if not (0 <= first <= 7 and 0 <= last <= 7) or first > last or step < 1:
            raise ScheduleError(f"invalid day of week {part!r}: use 0-7 (0 and 7 are Sunday)")
        days.update(day % 7 for day in range(first, last + 1, step))
    return ",".join(_DAYS[d] for d in sorted(days))


def timezone_of(settings: Settings) -> Any:
    """The time zone of cron schedules (setting, else this machine's)."""
    if settings.scheduler_timezone:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            return ZoneInfo(settings.scheduler_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ScheduleError(
                f"unknown time zone HUB_SCHEDULER_TIMEZONE={settings.scheduler_timezone!r}; use "
                "a name such as UTC or Europe/Paris"
            ) from None
    from tzlocal import get_localzone

    return get_localzone()


def make_trigger(every: str | None = None, cron: str | None = None,
                 timezone: Any = None) -> tuple[BaseTrigger, str]:
    """The APScheduler trigger for ``every`` or ``cron`` (exactly one), and its description."""
    if (every is None) == (cron is None):
        raise ScheduleError("give exactly one schedule: --every (e.g. 1h) or --cron "
                            "(e.g. \"0 * * * *\")")
    if every is not None:
        from apscheduler.triggers.interval import IntervalTrigger

        interval = parse_every(every)
        return (IntervalTrigger(seconds=int(interval.total_seconds()), timezone=timezone),
                f"every {describe_interval(interval)}")
    from apscheduler.triggers.cron import CronTrigger

    assert cron is not None
    fields = cron.split()
    if len(fields) != 5:
        raise ScheduleError(
            f"invalid cron expression {cron!r}: give 5 fields (minute hour day month weekday), "
            "e.g. \"0 * * * *\" for every hour"
        )
    fields[4] = _crontab_weekdays(fields[4])
    try:
        trigger = CronTrigger.from_crontab(" ".join(fields), timezone=timezone)
    except ValueError as exc:
        raise ScheduleError(f"invalid cron expression {cron!r}: {exc}") from None
    return trigger, f"cron {' '.join(cron.split())}"


def parse_parameters(pairs: Sequence[str]) -> dict[str, Any]:
    """``["key=value", ...]``: values are JSON when they parse (numbers, true, null, lists),
    else text."""
    parameters: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ScheduleError(f"invalid parameter {pair!r}: use key=value, with a Python name "
                                "as the key")
        try:
            parameters[key] = json.loads(raw)
        except ValueError:
            parameters[key] = raw
    return parameters


def default_notebook() -> Path:
    """``notebooks/retrain.ipynb`` of the project."""
    from hub_kernel.core.paths import repo_notebook

    try:
        return repo_notebook(RETRAIN_NOTEBOOK, error=ScheduleError)
    except ScheduleError as exc:
        raise ScheduleError(f"{exc}; or pass --notebook PATH") from None


def notebook_parameters(path: Path) -> dict[str, Any]:
    """The parameters a notebook declares in its ``parameters``-tagged cell (papermill's
    contract); ``ScheduleError`` if it is not a notebook or has no such cell."""
    if not path.is_file():
        raise ScheduleError(f"notebook not found: {path}")
    if path.suffix != ".ipynb":
        raise ScheduleError(f"{path} is not a notebook (.ipynb)")
    import nbformat

    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as exc:
        raise ScheduleError(f"{path} cannot be read as a notebook: {exc}") from None
    if not any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells):
        raise ScheduleError(f"{path} has no cell tagged 'parameters': tag the cell that sets its "
                            "defaults (papermill's contract) so a schedule can pass values")
    try:
        from papermill import inspect_notebook

        papermill_log = logging.getLogger("papermill")
        level = papermill_log.level
        papermill_log.setLevel(logging.WARNING)  # it logs "Input Notebook: ..." for each call
        try:
            return dict(inspect_notebook(str(path)))
        finally:
            papermill_log.setLevel(level)
    except Exception as exc:  # a language papermill cannot parse: accept any names
        logger.warning("cannot read the parameters of %s: %s", path, exc)
        return {}


@dataclass(frozen=True)
class ScheduledJob:
    """A job as the store holds it: its spec and when it runs next."""

    spec: JobSpec
    schedule: str
    next_run: datetime | None

    @property
    def name(self) -> str:
        return self.spec.name


def run_scheduled_job(**kwargs: Any) -> None:
    """What APScheduler calls: run the job's notebook under its lock, with retries. Never
    raises (the run history says what happened)."""
    from hub_kernel.schedule.runner import run_job

    spec = JobSpec.from_kwargs(kwargs)
    try:
        run_job(spec, trigger="schedule")
    except Exception as exc:  # a busy job is skipped; anything else is logged
        logger.warning("job %s did not run: %s", spec.name, exc)


class JobStore:
    """The job store of ``settings`` (default: the settings in force)."""

    def __init__(self, settings: Settings | None = None) -> None:
        from hub_kernel.core.config import get_settings

        self.settings = settings or get_settings()
        self.path = self.settings.scheduler_db

    def jobstore(self) -> Any:
        from hub_kernel.schedule.store import JsonJobStore

        return JsonJobStore(self.path, job_func=JOB_FUNC, rebuild=self.trigger_of)

    def trigger_of(self, schedule: str) -> Any:
        """The trigger of a spec's schedule text (``every 1h``, ``cron 0 * * * *``)."""
        timezone = timezone_of(self.settings)
        if schedule.startswith("every "):
            return make_trigger(every=schedule.removeprefix("every "), timezone=timezone)[0]
        if schedule.startswith("cron "):
            return make_trigger(cron=schedule.removeprefix("cron "), timezone=timezone)[0]
        raise ScheduleError(f"the schedule {schedule!r} is neither 'every ...' nor 'cron ...'")

    def job_defaults(self) -> dict[str, Any]:
        return {"coalesce": True, "max_instances": 1,
                "misfire_grace_time": self.settings.scheduler_misfire_grace_seconds}

    @contextlib.contextmanager
    def _scheduler(self) -> Iterator[BaseScheduler]:
        """A scheduler on the store that reads and writes jobs and never runs one: it has no
        main loop (a paused ``BackgroundScheduler`` would process due jobs once on shutdown,
        taking their runs from the real scheduler)."""
        from apscheduler.schedulers.base import BaseScheduler

        class OfflineScheduler(BaseScheduler):
            def wakeup(self) -> None:
                """Nothing to wake: jobs are never processed here."""

            def shutdown(self, wait: bool = True) -> None:
                super().shutdown(wait=False)

        try:
            self.settings.ensure_home()
            scheduler = OfflineScheduler(jobstores={"default": self.jobstore()},
                                         job_defaults=self.job_defaults(),
                                         timezone=timezone_of(self.settings),
                                         logger=_QUIET)
            scheduler.start(paused=True)
        except ScheduleError:
            raise
        except Exception as exc:
            raise ScheduleError(f"the job store {self.path} cannot be opened: {exc}; check that "
                                "HUB_HOME is writable") from exc
        try:
            yield scheduler
        finally:
            scheduler.shutdown(wait=False)

    def add(self, spec: JobSpec, *, every: str | None = None, cron: str | None = None,
            replace: bool = False) -> ScheduledJob:
        """Store a job (``replace`` an existing one of that name, else ``ScheduleError``)."""
        check_job_name(spec.name)
        notebook = Path(spec.notebook).expanduser().resolve()
        declared = notebook_parameters(notebook)
        unknown = sorted(set(spec.parameters) - set(declared)) if declared else []
        if unknown:
            raise ScheduleError(
                f"{notebook.name} has no parameter {', '.join(map(repr, unknown))}; it takes: "
                f"{', '.join(sorted(declared))}"
            )
        trigger, description = make_trigger(every, cron, timezone_of(self.settings))
        spec = JobSpec(**{**spec.to_kwargs(), "notebook": str(notebook),
                          "schedule": description})
        with self._scheduler() as scheduler:
            if scheduler.get_job(spec.name) is not None and not replace:
                raise ScheduleError(f"a job named {spec.name!r} exists; pass --replace to change "
                                    f"it or `hub schedule remove {spec.name}` first")
            job = scheduler.add_job(JOB_FUNC, trigger=trigger, id=spec.name, name=spec.name,
                                    kwargs=spec.to_kwargs(), replace_existing=replace)
            logger.info("scheduled job %s (%s): %s", spec.name, description, spec.notebook)
            return ScheduledJob(spec, description, job.next_run_time)

    def list(self) -> list[ScheduledJob]:
        """Every stored job, by name."""
        if not self.path.exists():
            return []
        with self._scheduler() as scheduler:
            jobs = scheduler.get_jobs()
        found = []
        for job in jobs:
            spec = JobSpec.from_kwargs(job.kwargs)
            found.append(ScheduledJob(spec, spec.schedule or str(job.trigger), job.next_run_time))
        return sorted(found, key=lambda j: j.name)

    def get(self, name: str) -> ScheduledJob:
        check_job_name(name)
        for job in self.list():
            if job.name == name:
                return job
        raise ScheduleError(f"no job named {name!r}; `hub schedule list` shows the jobs")

    def remove(self, name: str) -> None:
        from apscheduler.jobstores.base import JobLookupError

        check_job_name(name)
        if not self.path.exists():
            raise ScheduleError(f"no job named {name!r}; `hub schedule list` shows the jobs")
        with self._scheduler() as scheduler:
            try:
                scheduler.remove_job(name)
            except JobLookupError:
                raise ScheduleError(
                    f"no job named {name!r}; `hub schedule list` shows the jobs") from None
        logger.info("removed job %s", name)
