"""Running a job's notebook with papermill: the executed copy, its HTML, the run history, MLflow.

One attempt (``execute``): papermill runs the notebook with the job's parameters in a
``python3`` kernel (started in the notebook's folder, with this process's ``HUB_HOME``) and
writes the executed copy to ``$HUB_HOME/runs/<job>/<UTC time>.ipynb`` after every cell; nbconvert
makes an HTML copy next to it (credentials in the parameters and outputs removed first,
``notebook.scrub_notebook``; sanitised, ``notebook.export_html``). A cell that raises ends the
run: the copy keeps that cell with its traceback, and the run is recorded ``failed`` with the
error and the cell's index. The outcome of a run (``promoted``, ``held``, ...) is what the
notebook displayed under the MIME type ``application/vnd.hub.run+json`` (the retrain summary
does). Each run is also an MLflow run in the experiment ``hub-runs``, with both copies as
artifacts.

``run_job`` runs a job under its file lock (one job never runs twice at once, across
processes), repairs the job's runs left ``running`` by a dead process first, and retries a
failed run with exponential backoff up to a limit.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub_kernel.core.process import process_start
from hub_kernel.core.redact import redact_text, secrets_of
from hub_kernel.exceptions import ScheduleError
from hub_kernel.schedule.history import RunHistory, RunRecord, kill_kernel
from hub_kernel.schedule.lock import FileLock
from hub_kernel.schedule.notebook import error_cell as find_error_cell
from hub_kernel.schedule.notebook import export_html, reported_summary, scrub_notebook
from hub_kernel.schedule.spec import JobSpec, check_job_name

logger = logging.getLogger("hub_kernel")

MLFLOW_EXPERIMENT = "hub-runs"
KERNEL_NAME = "python3"


@dataclass
class _Active:
    run_id: int
    job: str
    kernel_pid: int | None = None
    cancelled: str | None = None


_active: dict[int, _Active] = {}
_active_lock = threading.Lock()
_stop = threading.Event()  # set by the scheduler when it stops: no more retries


def set_stop_event(event: threading.Event) -> None:
    """The event that ends retry waits (the scheduler's own, while it runs)."""
    global _stop
    _stop = event


_inflight = 0  # jobs inside run_job in this process (waiting for a lock, running, retrying)


def active_runs() -> list[int]:
    """Ids of the runs executing in this process."""
    with _active_lock:
        return list(_active)


def busy() -> bool:
    """Whether a job is being run (or retried) in this process."""
    with _active_lock:
        return _inflight > 0 or bool(_active)


def cancel_active(reason: str) -> int:
    """Stop the kernels of the runs executing in this process; each is recorded failed with
    ``reason``. Returns how many were stopped."""
    with _active_lock:
        targets = list(_active.values())
    for active in targets:
        active.cancelled = reason
        if active.kernel_pid:
            kill_kernel(active.kernel_pid)
    return len(targets)


def job_lock(name: str) -> FileLock:
    """The lock a run of job ``name`` holds (``$HUB_HOME/runs/<name>/.lock``)."""
    from hub_kernel.core.config import get_settings

    check_job_name(name)
    return FileLock(get_settings().runs_dir / name / ".lock", what=f"job {name!r}")


def run_job(spec: JobSpec, *, trigger: str = "schedule", retries: int | None = None,
            backoff: float | None = None, lock_timeout: float = 1.0) -> list[RunRecord]:
    """Run ``spec`` now under its lock, retrying failures; returns the attempts' records.

    ``JobRunningError`` if the job is running elsewhere. ``retries`` and ``backoff`` default to
    the spec's, then to the settings; the n-th retry waits ``backoff * 2**(n-1)`` seconds.
    """
    from hub_kernel.core.config import get_settings

    settings = get_settings()
    retries = next(v for v in (retries, spec.retries, settings.scheduler_retry_limit)
                   if v is not None)
    backoff = next(v for v in (backoff, spec.backoff, settings.scheduler_retry_backoff_seconds)
                   if v is not None)
    global _inflight
    history = RunHistory()
    records: list[RunRecord] = []
    stop = _stop
    with _active_lock:
        _inflight += 1
    try:
        with job_lock(spec.name).hold(lock_timeout):
            history.recover_stale(spec.name,
                                  secrets={spec.name: secrets_of(spec.parameters)})
            for attempt in range(1, retries + 2):
                if stop.is_set():
                    logger.info("job %s not run: the scheduler is stopping", spec.name)
                    break
                record = execute(spec, attempt=attempt,
                                 trigger=trigger if attempt == 1 else "retry", history=history)
                records.append(record)
                if record.status == "succeeded" or attempt > retries:
                    break
                if record.error and record.error.startswith("interrupted"):
                    break  # stopped on purpose: not retried
                delay = backoff * 2 ** (attempt - 1)
                logger.warning("job %s failed (attempt %d of %d): %s; retrying in %.3g s",
                               spec.name, attempt, retries + 1, record.error, delay)
                if stop.wait(delay):
                    logger.info("job %s: retry cancelled, the scheduler is stopping", spec.name)
                    break
    finally:
        with _active_lock:
            _inflight -= 1
    return records


def _stamp() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S") + f".{now.microsecond // 1000:03d}Z"


def _kernel_env(job: str, run_id: int) -> dict[str, str]:
    from hub_kernel.core.config import get_settings

    env = {"HUB_HOME": str(get_settings().home), "HUB_JOB": job, "HUB_RUN_ID": str(run_id),
           "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    env_file = Path(os.environ.get("HUB_ENV_FILE", ".env"))
    if env_file.is_file():
        env["HUB_ENV_FILE"] = str(env_file.resolve())
    return env


def _kernel_manager_class(env: Mapping[str, str], on_start: Callable[[int], None]) -> type:
    """An ``AsyncKernelManager`` that starts kernels with ``env`` and reports their pid."""
    from jupyter_client.manager import AsyncKernelManager

    class HubKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
            kw["env"] = {**os.environ, **(kw.get("env") or {}), **env}
            await super().start_kernel(**kw)
            pid = getattr(self.provisioner, "pid", None)
            if pid:
                on_start(int(pid))

    return HubKernelManager


def execute(spec: JobSpec, *, attempt: int = 1, trigger: str = "manual",
            history: RunHistory | None = None) -> RunRecord:
    """One run of ``spec``'s notebook (no lock taken: see ``run_job``); never raises for a
    failing notebook, which is recorded ``failed``."""
    from hub_kernel.core.config import get_settings

    settings = get_settings()
    history = history or RunHistory()
    notebook = Path(spec.notebook)
    run_dir = settings.runs_dir / spec.name
    run_dir.mkdir(parents=True, exist_ok=True)
    stamp = _stamp()
    output, html = run_dir / f"{stamp}.ipynb", run_dir / f"{stamp}.html"
    run_id = history.start(job=spec.name, notebook=str(notebook), parameters=spec.parameters,
                           trigger=trigger, attempt=attempt, output=str(output))
    active = _Active(run_id, spec.name)
    with _active_lock:
        _active[run_id] = active

    def on_kernel(pid: int) -> None:
        active.kernel_pid = pid
        history.set_kernel(run_id, pid, process_start(pid))
        if active.cancelled:  # stopped while its kernel was starting
            kill_kernel(pid)

    timeout = spec.timeout if spec.timeout is not None else settings.run_timeout_seconds
    secrets = secrets_of(spec.parameters)
    logger.info("run %d of job %s (attempt %d): %s", run_id, spec.name, attempt, notebook)
    error: str | None = None
    try:
        _papermill(notebook, output, spec.parameters, timeout,
                   _kernel_manager_class(_kernel_env(spec.name, run_id), on_kernel))
    except Exception as exc:
        error = redact_text(_describe(exc), secrets)
        if active.cancelled:
            error = f"interrupted: {active.cancelled} ({error})"
    finally:
        with _active_lock:
            _active.pop(run_id, None)
    kept = output if output.is_file() else None
    if kept:  # what viewers and MLflow see: no user:pw@ or ?token= of the parameters
        scrub_notebook(kept, secrets)
    html_path = export_html(kept, html) if kept else None
    error_cell = find_error_cell(kept) if kept and error else None
    summary = reported_summary(kept) if kept and not error else None
    outcome = "failed" if error else (str(summary.get("outcome")) if summary and
                                      summary.get("outcome") else None)
    record = history.finish(
        run_id, status="failed" if error else "succeeded", outcome=outcome, error=error,
        error_cell=error_cell, summary=summary, html=str(html_path) if html_path else None,
        output=str(kept) if kept else None, secrets=secrets)
    mlflow_run = _log_to_mlflow(record)
    if mlflow_run:
        history.set_mlflow_run(run_id, mlflow_run)
        record = history.get(run_id)
    log = logger.warning if error else logger.info
    log("run %d of job %s %s in %.1f s%s", run_id, spec.name, record.status,
        record.duration or 0.0, f": {error}" if error else f" ({record.label})")
    return record


def _papermill(notebook: Path, output: Path, parameters: Mapping[str, Any],
               timeout: float | None, manager_class: type) -> None:
    import papermill

    if not notebook.is_file():
        raise ScheduleError(f"notebook not found: {notebook}")
    papermill.execute_notebook(
        str(notebook), str(output), parameters=dict(parameters), kernel_name=KERNEL_NAME,
        progress_bar=False, request_save_on_cell_execute=True, execution_timeout=timeout,
        # nbclient options: the kernel starts in the notebook's folder, with hub's environment
        resources={"metadata": {"path": str(notebook.parent)}},
        kernel_manager_class=manager_class,
    )


def _describe(exc: BaseException) -> str:
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:  # papermill's PapermillExecutionError: the notebook's own exception
        return f"{ename}: {evalue}" if evalue else str(ename)
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")[:2000]


def _log_to_mlflow(record: RunRecord) -> str | None:
    """The run as an MLflow run of ``hub-runs`` with the notebook copies; None if it fails."""
    try:
        from mlflow.entities import Metric, Param

        from hub_kernel.core.config import get_settings
        from hub_kernel.models.tracking import ensure_experiment, mlflow_client

        settings = get_settings()
        client = mlflow_client(settings.tracking_uri)
        experiment_id = ensure_experiment(
            client, MLFLOW_EXPERIMENT, tracking_uri=settings.tracking_uri,
            artifacts_dir=settings.artifacts_dir, tags={"hub.kind": "scheduled_run"})
        tags = {"hub.kind": "scheduled_run", "hub.job": record.job, "hub.status": record.status,
                "hub.outcome": record.label, "hub.trigger": record.trigger,
                "hub.history_id": str(record.id), "mlflow.runName": f"{record.job} #{record.id}"}
        if record.error:
            tags["hub.error"] = record.error[:5000]
        run_id = client.create_run(experiment_id, tags=tags).info.run_id
        params = {"notebook": record.notebook, "attempt": str(record.attempt),
                  **{f"param.{k}": json.dumps(v, default=str)[:500]
                     for k, v in record.parameters.items()}}
        stamp = int(time.time() * 1000)
        client.log_batch(run_id, params=[Param(k, v[:6000]) for k, v in params.items()],
                         metrics=[Metric("duration_seconds", float(record.duration or 0.0),
                                         stamp, 0)])
        for path in (record.output, record.html):
            if path and Path(path).is_file():
                client.log_artifact(run_id, path, "notebook")
        if record.summary:
            client.log_dict(run_id, record.summary, "summary.json")
        client.set_terminated(run_id, "FINISHED" if record.status == "succeeded" else "FAILED")
        return str(run_id)
    except Exception as exc:
        logger.warning("run %d of job %s not logged to MLflow: %s", record.id, record.job, exc)
        return None
