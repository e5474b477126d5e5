"""What a scheduled run leaves for others to read: the run history, MLflow, ``runs/*.html`` and
the run-history tile. A hostile dataset or column name cannot run script there, and a
``source`` URL's credentials are nowhere but the job store (which needs them to run the job)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from hub_kernel.data import load_dataset
from hub_kernel.schedule.history import RunHistory
from hub_kernel.schedule.jobs import JobStore
from hub_kernel.schedule.retrain import RetrainSummary
from hub_kernel.schedule.runner import execute, run_job
from hub_kernel.schedule.spec import JobSpec

HOSTILE = "<img src=x onerror=alert(1)>"
PASSWORD, TOKEN = "pw-Zq81", "abc-Xk27"  # distinctive: found only if leaked
SOURCE = f"https://user:{PASSWORD}@host/x?token={TOKEN}"


class _Tags(HTMLParser):
    """Every start tag of a page, with its attributes, and the text of its scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def executable_parts(page: str) -> list[str]:
    """What in ``page`` could run the attacker's script: an ``img``, an ``on*`` handler, a
    ``javascript:`` link, a script mentioning ``alert``."""
    parser = _Tags()
    parser.feed(page)
    found = [f"<{tag}>" for tag, _ in parser.tags if tag in ("img", "iframe", "object", "embed")]
    found += [f"{tag} {name}=" for tag, attrs in parser.tags for name in attrs
              if name.startswith("on")]
    found += [f"{tag} {value}" for tag, attrs in parser.tags for value in attrs.values()
              if value and value.strip().lower().startswith("javascript:")]
    found += [s[:80] for s in parser.scripts if "alert(" in s]
    return found


def test_the_summary_markdown_escapes_names_it_did_not_choose():
    summary = RetrainSummary(
        model="m", outcome="created", reason=f"column {HOSTILE} drifted", mode="assisted",
        dataset=f"x` {HOSTILE} `", batch="b1", rows=3, drift={"explanation": f"[a]({HOSTILE})"})
    text = summary.to_markdown()
    assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "\\[a\\]" in text  # no link either


@pytest.mark.slow
def test_a_hostile_dataset_and_column_name_cannot_run_script_in_the_run_html(
        runs_home, repo, tmp_path):
    # a file a user uploaded, named (and with a column named) like an HTML tag
    folder = tmp_path / "upload"
    folder.mkdir()
    path = folder / f"{HOSTILE}.csv"
    load_dataset().iloc[:300].rename(columns={"temp_max": HOSTILE}).to_csv(path, index=False)
    notebook = str(repo / "notebooks" / "retrain.ipynb")
    created = execute(JobSpec("retrain", notebook, {
        "source": str(path), "model": "weather-xss", "target": HOSTILE, "drop_columns": ["date"],
        "cv": 2}), trigger="schedule")
    assert created.status == "succeeded" and created.outcome == "created", created.error
    assert created.summary["dataset"] == f"{HOSTILE}.csv"
    # a target that is not a column: the error names every column, the hostile one too
    failed = execute(JobSpec("retrain", notebook, {
        "source": str(path), "model": "weather-xss-two", "target": "<script>alert(2)</script>",
        "cv": 2}), trigger="schedule")
    assert failed.status == "failed" and HOSTILE in failed.error

    for record in (created, failed):
        page = Path(record.html).read_text(encoding="utf-8")
        assert executable_parts(page) == [], record.html
        assert "&lt;img src=x onerror=alert(1)&gt;" in page  # shown as text, not dropped
    assert "**created**" in Path(created.html).read_text().replace("<strong>", "**").replace(
        "</strong>", "**")


@pytest.mark.slow
def test_a_source_url_with_credentials_is_shown_and_stored_without_them(runs_home, repo):
    from mlflow import MlflowClient

    from hub_kernel.core.config import get_settings
    from widgets.runs import RunHistoryTile

    job = JobStore().add(JobSpec("nightly", str(repo / "notebooks" / "retrain.ipynb"),
                                 {"source": SOURCE, "model": "weather-creds"}), every="1d")
    (record,) = run_job(job.spec, retries=0)
    assert record.status == "failed"  # the host does not exist: the run fails, its error kept
    assert record.parameters["source"] == "https://***@host/x?token=***"

    def leaks(text: str) -> list[str]:
        return [secret for secret in (PASSWORD, TOKEN) if secret in text]

    # the run history (every field), as read and as stored on disk
    assert leaks(repr(RunHistory().get(record.id).to_dict())) == []
    # MLflow: params, tags and the notebook copies logged as artifacts
    client = MlflowClient(tracking_uri=get_settings().tracking_uri)
    run = client.get_run(record.mlflow_run_id)
    assert run.data.params["param.source"] == '"https://***@host/x?token=***"'
    assert leaks(repr(run.data.params) + repr(run.data.tags)) == []
    # the tile every viewer sees: the table and the executed notebook shown inline
    tile = RunHistoryTile(job="nightly")
    tile.show_run(record.id)
    assert "nightly" in tile.table_html and "https://***@host" in tile.viewer_html
    assert leaks(tile.table_html) == [] and leaks(tile.viewer_html) == []
    # nothing under HUB_HOME holds them but the job store, which runs the job with them
    holding = sorted(str(p.relative_to(runs_home)) for p in runs_home.rglob("*")
                     if p.is_file() and leaks(p.read_bytes().decode("utf-8", "replace")))
    assert holding == ["scheduler.db"]


def test_a_run_interrupted_by_a_kill_is_repaired_without_its_credentials(schedule_home):
    # what papermill had saved when the scheduler was killed: the injected parameters and an
    # error quoting the password the way urllib does (not as a URL)
    import socket
    import subprocess
    import sys

    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from hub_kernel.core.redact import secrets_of

    output = schedule_home / "runs" / "nightly" / "20261202T000000.000Z.ipynb"
    output.parent.mkdir(parents=True)
    injected = new_code_cell(f'# Parameters\nsource = "{SOURCE}"\n',
                             metadata={"tags": ["injected-parameters"]})
    failing = new_code_cell("load(source)", outputs=[new_output(
        "error", ename="InvalidURL", evalue=f"nonnumeric port: '{PASSWORD}@host'",
        traceback=[f"InvalidURL: nonnumeric port: '{PASSWORD}@host'"])])
    notebook = new_notebook(cells=[injected, failing])
    notebook.metadata["papermill"] = {"parameters": {"source": SOURCE}}
    nbformat.write(notebook, output)
    parameters = {"source": SOURCE}
    history = RunHistory()
    run_id = history.start(job="nightly", notebook="retrain.ipynb", parameters=parameters,
                           trigger="schedule", output=str(output))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with history._connect() as db:  # the scheduler that ran it is gone
        db.execute("UPDATE runs SET pid = ?, pid_started = NULL, host = ? WHERE id = ?",
                   (gone.pid, socket.gethostname(), run_id))

    (repaired,) = history.recover_stale("nightly", secrets={"nightly": secrets_of(parameters)})
    assert repaired.status == "failed" and repaired.html
    for path in (output, Path(repaired.html)):
        text = path.read_text(encoding="utf-8")
        assert PASSWORD not in text and TOKEN not in text, path
    assert "***@host" in Path(repaired.html).read_text()  # the error itself is kept


def test_runs_an_older_hub_recorded_with_credentials_are_redacted_once_and_kept(
        schedule_home):
    import json
    import sqlite3

    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from hub_kernel.schedule.history import _SCHEMA
    from hub_kernel.schedule.notebook import export_html

    folder = schedule_home / "runs" / "nightly"
    folder.mkdir(parents=True)
    output, html = folder / "old.ipynb", folder / "old.html"
    nbformat.write(new_notebook(cells=[new_code_cell(
        f'# Parameters\nsource = "{SOURCE}"\n', metadata={"tags": ["injected-parameters"]})]),
        output)
    export_html(output, html)
    assert PASSWORD in html.read_text()
    old_schema = _SCHEMA.split("CREATE TABLE IF NOT EXISTS hub_migrations")[0]
    with sqlite3.connect(folder.parent / "history.db") as db:  # as an older hub left it
        db.executescript(old_schema)
        db.execute(
            "INSERT INTO runs (job, trigger, status, started_at, notebook, output, html, "
            "parameters, error, summary) VALUES ('nightly', 'schedule', 'failed', "
            "'2026-11-30T00:00:00.000+00:00', 'retrain.ipynb', ?, ?, ?, ?, ?)",
            (str(output), str(html), json.dumps({"source": SOURCE}),
             f"DataError: nonnumeric port: '{PASSWORD}@host'",
             json.dumps({"reason": f"read {SOURCE}"})))

    (record,) = RunHistory().runs("nightly")
    assert record.parameters == {"source": "https://***@host/x?token=***"}
    assert record.error == "DataError: nonnumeric port: '***@host'"
    assert record.summary == {"reason": "read https://***@host/x?token=***"}
    for path in (output, html):
        text = path.read_text(encoding="utf-8")
        assert PASSWORD not in text and TOKEN not in text, path
    stored = b"".join(p.read_bytes() for p in folder.parent.glob("history.db*"))
    assert PASSWORD.encode() not in stored and TOKEN.encode() not in stored  # no old pages
    with sqlite3.connect(folder.parent / "history.db") as db:
        assert db.execute("SELECT name FROM hub_migrations").fetchall() == [
            ("credentials-removed",)]
