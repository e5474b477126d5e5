"""``hub analyze``: the agent's choices with why, the key facts, and with a target the search."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from hub_kernel.cli.analyze import analyze_command


@pytest.fixture
def app():
    cli = typer.Typer()
    cli.command("analyze")(analyze_command)

    @cli.command()
    def other() -> None:  # a second command keeps `analyze` a sub-command, as in `hub`
        """Placeholder."""

    return cli


@pytest.fixture
def sample():
    from hub_kernel.data import sample_path

    return str(sample_path())


def run(app, *args: str):
    return CliRunner().invoke(app, ["analyze", *args], terminal_width=200)


def test_asked_analyses_print_their_facts(app, models_home, sample):
    result = run(app, sample, "--analyses", "summary,trend")
    assert result.exit_code == 0, result.output
    assert "analyses asked for" in result.output
    assert "The table has 1,461 rows." in result.output
    assert "The trend of precipitation is flat." in result.output
    assert "MLflow run" in result.output


@pytest.mark.slow
def test_the_agent_chooses_and_says_why(app, models_home, sample):
    result = run(app, sample)
    assert result.exit_code == 0, result.output
    assert "analyses chosen by the strategy agent" in result.output
    assert "skipped: it needs some missing values" in result.output  # missingness
    assert "probability" in result.output


@pytest.mark.slow
def test_with_a_target_it_prints_the_leaderboard(app, models_home, sample):
    result = run(app, sample, "--target", "weather", "--budget", "3", "--analyses",
                 "supervised_model", "--n-jobs", "1")
    assert result.exit_code == 0, result.output
    assert "model search:" in result.output and "best model:" in result.output
    assert "why:" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--analyses", "summary,nope"], "no analysis named 'nope'; known analyses: summary"),
    (["--target", "price"], "no column 'price'"),
    (["--budget", "0"], "--budget must be a positive number"),
    (["--analyses", ","], "--analyses names no analysis"),
])
def test_bad_input_is_one_line_and_exit_1(app, models_home, sample, args, message):
    result = run(app, sample, *args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_analysis_that_does_not_apply_is_refused(app, models_home, sample):
    result = run(app, sample, "--analyses", "missingness")
    assert result.exit_code == 1
    assert "does not apply" in result.output and "missing values" in result.output


def test_unknown_dataset(app, models_home):
    result = run(app, "no-such-dataset")
    assert result.exit_code == 1
    assert "error:" in result.output and "Traceback" not in result.output
