"""``--cluster`` on ``hub analyze`` and ``hub train``: the model search on Dask workers, and a
scheduler that cannot be reached refused before any work, in one line naming it."""

from __future__ import annotations

import socket

import pytest
import typer
from typer.testing import CliRunner

from hub_kernel.cli.analyze import analyze_command
from hub_kernel.cli.models import train_command

hub = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
hub.command("analyze")(analyze_command)
hub.command("train")(train_command)


@pytest.fixture
def sample() -> str:
    from hub_kernel.data import sample_path

    return str(sample_path())


def _unreachable() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize("command", ["analyze", "train"])
def test_an_unreachable_cluster_is_one_line_and_exit_1(models_home, sample, command):
    address = _unreachable()
    extra = ["--budget", "2"] if command == "train" else []
    result = CliRunner().invoke(hub, [command, sample, "--target", "weather", *extra,
                                      "--cluster", address], terminal_width=200)
    assert result.exit_code == 1, result.output
    assert f"could not reach the Dask scheduler at '{address}'" in result.output
    assert "Traceback" not in result.output
    assert "MLflow run" not in result.output and "trained" not in result.output  # no work


def test_the_setting_is_checked_too(models_home, sample, monkeypatch):
    from hub_kernel.core import config

    address = _unreachable()
    monkeypatch.setenv("HUB_DASK_ADDRESS", address)
    config.reload_settings()
    try:
        result = CliRunner().invoke(hub, ["analyze", sample, "--target", "weather"],
                                    terminal_width=200)
        assert result.exit_code == 1 and address in result.output
        # --cluster none overrides the setting: the search runs in this process
        result = CliRunner().invoke(hub, ["analyze", sample, "--target", "weather",
                                          "--budget", "2", "--analyses", "supervised_model",
                                          "--n-jobs", "1", "--cluster", "none"],
                                    terminal_width=200)
        assert result.exit_code == 0, result.output
        assert "Dask worker" not in result.output
    finally:
        monkeypatch.undo()
        config.reload_settings()


@pytest.mark.slow
def test_analyze_searches_on_a_local_cluster(models_home, sample):
    result = CliRunner().invoke(hub, ["analyze", sample, "--target", "weather", "--budget", "4",
                                      "--analyses", "supervised_model", "--cluster", "local:2"],
                                terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "on 2 Dask workers" in result.output  # the leaderboard's title
    assert "best model:" in result.output


@pytest.mark.slow
def test_train_searches_on_a_local_cluster(models_home, sample):
    from hub_kernel.models import ModelRegistry

    result = CliRunner().invoke(hub, ["train", sample, "--target", "weather", "--budget", "4",
                                      "--cv", "3", "--cluster", "local:2"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "trained" in result.output and "version 1" in result.output
    (model,) = ModelRegistry().list_models()
    assert model.latest_version == 1
    # the search's evaluations ran on the workers (its audit entries name them)
    from hub_kernel.safety.audit import AuditLog

    evaluated = [e for e in AuditLog().entries(agent="strategy")
                 if e.action.startswith("evaluate:")]
    assert evaluated and all("on the Dask worker tcp://127.0.0.1:" in e.explanation
                             for e in evaluated)
