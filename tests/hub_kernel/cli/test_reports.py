"""``hub report``: papermill runs notebooks/analysis.ipynb, nbconvert writes the file."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from hub_kernel.cli.reports import report_command


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    app.command("report")(report_command)
    app.command("other")(lambda: None)  # two commands: `report` is named as in `hub report`
    return app


def test_bad_audience_or_format_exits_1_with_the_known_names(app, hub_home, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["report", "sample", "--audience", "board"])
    assert result.exit_code == 1
    assert "unknown audience 'board'" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["report", "sample", "--format", "docx"])
    assert result.exit_code == 1 and "formats: html, pdf, md" in result.output
    result = runner.invoke(app, ["report", "sample", "--section", "gossip"])
    assert result.exit_code == 1 and "unknown report section" in result.output


@pytest.mark.slow
def test_hub_report_runs_the_analysis_notebook_and_writes_markdown(app, hub_home, tmp_path):
    out = tmp_path / "out" / "report.md"
    result = CliRunner().invoke(app, ["report", "seattle-weather", "--audience", "technical",
                                      "--format", "md", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "written to" in result.output
    text = out.read_text()
    assert text.startswith("# seattle-weather: report for technical readers")
    assert "## Model quality" in text and "## Drift" in text
    # the executed notebook is kept under HUB_HOME/reports, its parameters injected
    executed = sorted((hub_home / "reports").glob("seattle-weather-technical-*.ipynb"))
    assert len(executed) == 1
    cells = json.loads(executed[0].read_text())["cells"]
    injected = [c for c in cells if "injected-parameters" in c["metadata"].get("tags", [])]
    assert "audience = \"technical\"" in "".join(injected[0]["source"])
    # the decision went to the audit log
    from hub_kernel.safety.audit import AuditLog

    assert [e.action for e in AuditLog().entries(agent="report")] == ["report:technical"]
