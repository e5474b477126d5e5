import re

import pytest
from typer.testing import CliRunner

from hub_kernel.cli import app

runner = CliRunner()


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "serve", "doctor"):
        assert command in result.output


def test_serve_dry_run_binds_loopback_by_default(repo, hub_home):
    result = runner.invoke(app, ["serve", str(repo / "notebooks/dashboard.ipynb"), "--port", "0",
                                 "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "--Voila.ip=127.0.0.1" in result.output
    assert "Dashboard: http://127.0.0.1:0/\n" in result.output


def test_serve_prints_a_one_time_login_link_and_the_plain_url(repo, hub_home):
    result = runner.invoke(app, ["serve", str(repo / "notebooks/dashboard.ipynb"), "--ip",
                                 "0.0.0.0", "--port", "0", "--dry-run"])
    assert result.exit_code == 0, result.output
    match = re.search(r"Login link: http://0\.0\.0\.0:0/hub/login\?token=(\S+)", result.output)
    assert match and "it works once" in result.output
    assert result.output.count(match.group(1)) == 1  # only in the link, not in the command


def test_serve_auth_none_off_loopback_is_refused_with_a_clear_message(repo, hub_home):
    result = runner.invoke(app, ["serve", str(repo / "notebooks/dashboard.ipynb"), "--ip",
                                 "0.0.0.0", "--port", "0", "--auth", "none", "--dry-run"])
    assert result.exit_code == 1
    assert "--auth none serves without any login" in result.output
    assert "Traceback" not in result.output
    loopback = runner.invoke(app, ["demo", "--port", "0", "--auth", "none", "--dry-run"])
    assert loopback.exit_code == 0 and "No login" in loopback.output


def test_serve_missing_notebook_exits_1_without_traceback(tmp_path, hub_home):
    result = runner.invoke(app, ["serve", str(tmp_path / "nope.ipynb"), "--dry-run"])
    assert result.exit_code == 1
    assert "notebook not found" in result.output
    assert "Traceback" not in result.output


def test_demo_serves_the_dashboard_notebook(hub_home):
    result = runner.invoke(app, ["demo", "--port", "0", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "notebooks/dashboard.ipynb" in result.output
    assert "127.0.0.1" in result.output


def test_bad_setting_is_reported_not_raised(monkeypatch):
    monkeypatch.setenv("HUB_SERVE_PORT", "not-a-port")
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 1
    assert "HUB_SERVE_PORT" in result.output


@pytest.mark.slow
def test_doctor_passes_here_and_fails_on_unwritable_home(tmp_path, monkeypatch, hub_home):
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    for check in ("python", "packages", "HUB_HOME", "kernel", "mlflow", "browser"):
        assert check in result.output
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    monkeypatch.setenv("HUB_HOME", str(blocker / "home"))
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "HUB_HOME" in result.output and "not writable" in result.output
