"""``hub schedule ...``, ``hub scheduler ...`` and ``hub status`` (mounted by ``hub_kernel.cli``).

APScheduler, papermill and mlflow are imported inside the commands: importing this module stays
light. Every hub error is printed as one line and exits 1, without a traceback.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from hub_kernel.cli.common import command_group, console, fail
from hub_kernel.exceptions import HubError

if TYPE_CHECKING:
    from hub_kernel.schedule.history import RunRecord

app = command_group("Scheduled notebooks: add, list, remove, run now, run history.")
scheduler_app = typer.Typer(
    help="The scheduler process: start (foreground), stop.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
COLOURS = {"succeeded": "green", "running": "blue", "failed": "red", "promoted": "green",
           "created": "green", "proposed": "yellow", "held": "yellow", "no-change": "blue",
           "invalid": "red"}


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "-"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _label(record: RunRecord | None) -> str:
    if record is None:
        return "-"
    label = record.label
    return f"[{COLOURS.get(label, 'white')}]{escape(label)}[/]"


def _duration(record: RunRecord) -> str:
    return "-" if record.duration is None else f"{record.duration:.1f} s"


@app.command("add")
def add_command(
    name: Annotated[str, typer.Argument(help="Job name (letters, digits, '_', '-').")],
    every: Annotated[str | None, typer.Option(
        help="Run every N seconds/minutes/hours/days: 30s, 5m, 1h, 1d.")] = None,
    cron: Annotated[str | None, typer.Option(
        help="A crontab line: minute hour day month weekday, e.g. \"0 * * * *\".")] = None,
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="key=value for the notebook's parameters cell (repeatable; "
                              "values are JSON when they parse, else text).")] = None,
    notebook: Annotated[Path | None, typer.Option(
        help="Notebook to run (default: notebooks/retrain.ipynb).")] = None,
    retries: Annotated[int | None, typer.Option(
        min=0, max=20, help="Retries of a failed run (default HUB_SCHEDULER_RETRY_LIMIT).")
    ] = None,
    backoff: Annotated[float | None, typer.Option(
        min=0, help="Seconds before the first retry, doubled each time "
                    "(default HUB_SCHEDULER_RETRY_BACKOFF_SECONDS).")] = None,
    timeout: Annotated[float | None, typer.Option(
        min=0.001, help="Longest a cell may run, in seconds (default: no limit).")] = None,
    replace: Annotated[bool, typer.Option(help="Replace a job of the same name.")] = False,
) -> None:
    """Schedule NAME: a notebook run with papermill --every N or on a --cron line."""
    from hub_kernel.schedule.jobs import JobStore, default_notebook, parse_parameters
    from hub_kernel.schedule.spec import JobSpec

    try:
        path = notebook if notebook is not None else default_notebook()
        spec = JobSpec(name=name, notebook=str(path), parameters=parse_parameters(param or []),
                       retries=retries, backoff=backoff, timeout=timeout)
        job = JobStore().add(spec, every=every, cron=cron, replace=replace)
    except HubError as exc:
        fail(exc)
    console.print(f"scheduled [bold]{escape(job.name)}[/] ({escape(job.schedule)}): "
                  f"{escape(job.spec.notebook)}; next run {_when(job.next_run)}", soft_wrap=True)
    if job.spec.parameters:
        from hub_kernel.core.redact import redact

        shown = ", ".join(f"{k}={v!r}" for k, v in redact(job.spec.parameters).items())
        console.print(f"parameters: {escape(shown)}", soft_wrap=True)
    console.print("runs while `hub scheduler start` is running (`hub status` shows it)")


@app.command("list")
def list_command() -> None:
    """List scheduled jobs: schedule, next run, last outcome."""
    from hub_kernel.schedule.monitor import job_statuses

    try:
        jobs = job_statuses()
    except HubError as exc:
        fail(exc)
    if not jobs:
        console.print("no jobs: `hub schedule add NAME --every 1h` adds one")
        return
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("name", "schedule", "next run", "last run", "outcome", "notebook"):
        table.add_column(column, overflow="fold")
    for job in jobs:
        table.add_row(escape(job.name), escape(job.schedule), _when(job.next_run),
                      _when(job.last.started_at) if job.last else "-", _label(job.last),
                      escape(Path(job.notebook).name))
    console.print(table)


@app.command("remove")
def remove_command(name: Annotated[str, typer.Argument(help="Job name.")]) -> None:
    """Remove job NAME (its run history stays)."""
    from hub_kernel.schedule.jobs import JobStore

    try:
        JobStore().remove(name)
    except HubError as exc:
        fail(exc)
    console.print(f"removed job {escape(name)}")


@app.command("run-now")
def run_now_command(
    name: Annotated[str, typer.Argument(help="Job name.")],
    retries: Annotated[int, typer.Option(min=0, max=20, help="Retries if it fails.")] = 0,
) -> None:
    """Run job NAME now, in this terminal (waits for it; refused while it is running)."""
    from hub_kernel.schedule.jobs import JobStore
    from hub_kernel.schedule.runner import run_job

    try:
        job = JobStore().get(name)
        with console.status(f"running {name}…"):
            records = run_job(job.spec, trigger="manual", retries=retries, backoff=1.0)
    except HubError as exc:
        fail(exc)
    for record in records:
        _print_run(record)
    if not records or records[-1].status != "succeeded":
        raise typer.Exit(1)


def _print_run(record: RunRecord) -> None:
    console.print(f"run {record.id} of {escape(record.job)}: {_label(record)} in "
                  f"{_duration(record)}", soft_wrap=True)
    if record.summary and record.summary.get("reason"):
        console.print(escape(str(record.summary["reason"])), soft_wrap=True)
    if record.error:
        cell = f" (cell {record.error_cell})" if record.error_cell is not None else ""
        console.print(f"[red]error{cell}:[/] {escape(record.error)}", soft_wrap=True)
    for path in (record.output, record.html):
        if path and Path(path).is_file():
            console.print(f"  {escape(path)}", soft_wrap=True)


@app.command("runs")
def runs_command(
    name: Annotated[str | None, typer.Argument(help="Only this job's runs.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
) -> None:
    """The run history: status, outcome, duration, executed notebook."""
    from hub_kernel.schedule.history import RunHistory

    try:
        records = RunHistory().runs(name, limit=limit)
    except HubError as exc:
        fail(exc)
    if not records:
        console.print("no runs yet")
        return
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("id", "job", "started", "duration", "outcome", "notebook / error"):
        table.add_column(column, overflow="fold")
    for r in records:
        detail = r.error or r.html or r.output or ""
        table.add_row(str(r.id), escape(r.job), _when(r.started_at), _duration(r), _label(r),
                      escape(detail))
    console.print(table)


@scheduler_app.command("start")
def start_command(
    heartbeat: Annotated[float | None, typer.Option(
        min=0.05, help="Seconds between heartbeats (default HUB_SCHEDULER_HEARTBEAT_SECONDS).")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Jobs run at once.")] = 4,
) -> None:
    """Run the scheduler in the foreground until SIGTERM or Ctrl-C."""
    from hub_kernel.core.config import get_settings
    from hub_kernel.schedule.daemon import Daemon
    from hub_kernel.schedule.jobs import JobStore

    settings = get_settings()
    try:
        jobs = JobStore(settings).list()
        console.print(f"scheduler for {escape(str(settings.home))}: {len(jobs)} job(s); "
                      "stop with Ctrl-C or SIGTERM", soft_wrap=True)
        Daemon(settings, heartbeat_seconds=heartbeat, max_workers=workers).run()
    except HubError as exc:
        fail(exc)
    console.print("scheduler stopped")


@scheduler_app.command("stop")
def stop_command() -> None:
    """Stop the running scheduler (SIGTERM) and wait for it."""
    from hub_kernel.schedule.daemon import stop_scheduler

    try:
        pid = stop_scheduler()
    except HubError as exc:
        fail(exc)
    console.print(f"scheduler (process {pid}) stopped")


def status_command(
    drift: Annotated[bool, typer.Option(
        "--drift/--no-drift", help="Check each champion's newest data for drift.")] = True,
) -> None:
    """Scheduler alive?, next runs, last outcomes, and the drift status of each champion."""
    from hub_kernel.schedule.monitor import status

    try:
        state = status(drift=drift)
    except HubError as exc:
        fail(exc)
    scheduler = state.scheduler
    colour = "green" if scheduler.alive else "red"
    word = "running" if scheduler.alive else "not running"
    console.print(f"scheduler: [{colour}]{word}[/] ({escape(scheduler.detail)})", soft_wrap=True)
    if state.jobs:
        table = Table(title="jobs", box=box.SIMPLE_HEAD)
        for column in ("name", "schedule", "next run", "last run", "duration", "outcome"):
            table.add_column(column, overflow="fold")
        for job in state.jobs:
            last = job.last
            table.add_row(escape(job.name), escape(job.schedule), _when(job.next_run),
                          _when(last.started_at) if last else "-",
                          _duration(last) if last else "-", _label(last))
        console.print(table)
        for job in state.jobs:
            if job.last and job.last.summary and job.last.summary.get("reason"):
                console.print(f"{escape(job.name)}: {escape(str(job.last.summary['reason']))}",
                              soft_wrap=True)
            elif job.last and job.last.error:
                console.print(f"{escape(job.name)}: [red]{escape(job.last.error)}[/]",
                              soft_wrap=True)
    else:
        console.print("jobs: none (`hub schedule add NAME --every 1h` adds one)")
    if drift:
        if state.champions:
            table = Table(title="champions", box=box.SIMPLE_HEAD)
            for column in ("model", "champion", "drift", "detail"):
                table.add_column(column, overflow="fold")
            colours = {"stable": "green", "current": "green", "drifted": "red",
                       "unknown": "yellow"}
            for c in state.champions:
                table.add_row(escape(c.model), f"v{c.champion}",
                              f"[{colours[c.status]}]{c.status}[/]", escape(c.detail))
            console.print(table)
        else:
            console.print("champions: none")
