"""One run of a job: papermill in a real python3 kernel, the executed copy and its HTML, the run
history, MLflow; failures with their error cell; retries; the lock across processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import nbformat
import pytest
from typer.testing import CliRunner

from hub_kernel.core.process import alive
from hub_kernel.exceptions import JobRunningError
from hub_kernel.schedule.history import RunHistory
from hub_kernel.schedule.jobs import JobStore
from hub_kernel.schedule.lock import FileLock
from hub_kernel.schedule.runner import job_lock, run_job
from hub_kernel.schedule.spec import JobSpec

pytestmark = pytest.mark.slow


def mlflow_run(run_id):
    from mlflow import MlflowClient

    from hub_kernel.core.config import get_settings

    client = MlflowClient(tracking_uri=get_settings().tracking_uri)
    return client, client.get_run(run_id)


def test_a_run_keeps_the_executed_notebook_its_html_and_its_outcome(runs_home, notebooks,
                                                                     tmp_path):
    log = tmp_path / "log.txt"
    spec = JobSpec("passing", str(notebooks / "passing.ipynb"),
                   {"value": 5, "log_path": str(log)})
    (record,) = run_job(spec, trigger="manual")
    assert record.status == "succeeded" and record.outcome == "done-5"
    assert record.summary == {"outcome": "done-5", "reason": "all fine"}
    assert record.duration and record.duration > 0 and record.error is None
    # the kernel ran in the notebook's folder with this process's HUB_HOME
    assert log.read_text().split() == ["ran", "5", str(notebooks), str(runs_home)]
    output, html = Path(record.output), Path(record.html)
    assert output.parent == runs_home / "runs" / "passing" and output.suffix == ".ipynb"
    assert html == output.with_suffix(".html") and "done 5" in html.read_text()
    datetime.strptime(output.stem, "%Y%m%dT%H%M%S.%fZ")  # named by its UTC start time
    executed = nbformat.read(output, as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert "value = 5" in injected[0].source
    assert RunHistory().runs("passing") == [record]

    client, run = mlflow_run(record.mlflow_run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["hub.job"] == "passing" and run.data.tags["hub.outcome"] == "done-5"
    assert run.data.params["param.value"] == "5"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "notebook")}
    assert artifacts == {f"notebook/{output.name}", f"notebook/{html.name}"}


def test_a_notebook_that_raises_is_recorded_failed_with_its_error_cell_and_retried(
        runs_home, notebooks):
    spec = JobSpec("failing", str(notebooks / "failing.ipynb"), {"message": "kaboom"},
                   retries=1, backoff=0.3)
    first, second = run_job(spec, trigger="schedule")
    assert (first.attempt, first.trigger, second.attempt, second.trigger) == (
        1, "schedule", 2, "retry")
    for record in (first, second):
        assert record.status == "failed" and record.outcome == "failed"
        assert record.error == "ValueError: kaboom"
        kept = nbformat.read(record.output, as_version=4)
        cell = kept.cells[record.error_cell]
        assert cell.source == "raise ValueError(message)"
        assert [o.output_type for o in cell.outputs] == ["error"]
        assert not kept.cells[record.error_cell + 1].get("outputs")  # never reached
        assert "papermill-error-cell" in Path(record.html).read_text()
        _, run = mlflow_run(record.mlflow_run_id)
        assert run.info.status == "FAILED" and run.data.tags["hub.error"] == "ValueError: kaboom"
    waited = (datetime.fromisoformat(second.started_at)
              - datetime.fromisoformat(first.finished_at)).total_seconds()
    assert waited >= 0.3  # backoff before the retry

    # with the default limit from the settings (0 here), a run is tried once
    spec = JobSpec("failing", str(notebooks / "failing.ipynb"))
    assert len(run_job(spec, retries=0)) == 1


def test_a_missing_notebook_is_a_failed_run_not_a_crash(runs_home, tmp_path):
    (record,) = run_job(JobSpec("gone", str(tmp_path / "gone.ipynb")), retries=0)
    assert record.status == "failed" and "notebook not found" in record.error
    assert record.html is None and record.error_cell is None


def test_one_job_never_runs_twice_at_once_across_processes(runs_home, notebooks, tmp_path):
    spec = JobSpec("busy", str(notebooks / "passing.ipynb"))
    JobStore().add(spec, every="1h")
    # another process holds the job's lock (as a running scheduler would)
    lock_path = runs_home / "runs" / "busy" / ".lock"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from hub_kernel.schedule.lock import FileLock
        lock = FileLock({str(lock_path)!r})
        assert lock.acquire()
        print("held", flush=True)
        time.sleep(600)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert job_lock("busy").is_locked()
        with pytest.raises(JobRunningError, match=f"held by process {holder.pid}"):
            run_job(spec, lock_timeout=0.2)
        from hub_kernel.cli import app

        result = CliRunner().invoke(app, ["schedule", "run-now", "busy"])
        assert result.exit_code == 1 and "wait for it to finish" in result.output
        assert RunHistory().runs("busy") == []  # nothing ran
        holder.send_signal(signal.SIGKILL)  # the system releases a killed holder's lock
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert not alive(holder.pid)
    lock = FileLock(lock_path)
    assert lock.acquire() and lock.held
    lock.release()
    (record,) = run_job(spec, retries=0)
    assert record.status == "succeeded" and record.outcome == "done-1"
