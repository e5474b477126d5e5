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


@pytest.fixture
def houses(tmp_path):
    """A price with its logarithm, a copy and an id among the columns."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 200
    size = rng.normal(size=n)
    price = np.round(np.exp(3 + 0.6 * size + 0.3 * rng.normal(size=n)), 2)
    path = tmp_path / "houses.csv"
    pd.DataFrame({"listing_id": np.arange(1, n + 1), "size": size,
                  "area": rng.choice(["north", "south"], n), "price": price,
                  "log_price": np.log(price), "price_again": price}).to_csv(path, index=False)
    return str(path)


@pytest.mark.slow
def test_leaks_of_the_target_are_named_and_left_out(app, models_home, houses):
    result = run(app, houses, "--target", "price", "--budget", "2", "--n-jobs", "1",
                 "--analyses", "feature_importance,supervised_model")
    assert result.exit_code == 0, result.output
    out = result.output
    assert ("left out: log_price — a monotone transform of price (Spearman 1.000); use "
            "--keep-column log_price to keep it") in out
    assert "left out: price_again — a copy of price" in out
    assert "left out: listing_id — an identifier" in out
    assert "log_price matters most" not in out and "size matters most" in out


@pytest.mark.slow
def test_keep_column_keeps_a_leak_on_purpose(app, models_home, houses):
    result = run(app, houses, "--target", "price", "--budget", "2", "--n-jobs", "1",
                 "--analyses", "feature_importance", "--keep-column", "log_price")
    assert result.exit_code == 0, result.output
    assert "kept on request: log_price — a monotone transform of price" in result.output
    assert "left out: log_price" not in result.output
    assert "left out: price_again" in result.output
    assert "log_price matters most" in result.output


@pytest.fixture
def fraud(tmp_path):
    """3% positives, partly predictable from ``amount``."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 2000
    amount = rng.normal(size=n)
    order = np.argsort(-(amount + 0.5 * rng.normal(size=n)))
    label = np.full(n, "no", dtype=object)
    label[order[:60]] = "yes"
    path = tmp_path / "fraud.csv"
    pd.DataFrame({"amount": amount, "hour": rng.integers(0, 24, n),
                  "fraud": label}).to_csv(path, index=False)
    return str(path)


@pytest.mark.slow
def test_a_rare_class_is_scored_by_balanced_accuracy_beside_its_baseline(app, models_home,
                                                                         fraud):
    result = run(app, fraud, "--target", "fraud", "--budget", "3", "--n-jobs", "1",
                 "--analyses", "supervised_model")
    assert result.exit_code == 0, result.output
    assert "model search: balanced_accuracy" in result.output
    assert "(baseline 0.5000, always predicting the most common class)" in result.output
    assert "accuracy 0.97" not in result.output


@pytest.mark.slow
def test_a_named_scorer_is_used(app, models_home, fraud):
    result = run(app, fraud, "--target", "fraud", "--budget", "3", "--n-jobs", "1",
                 "--analyses", "supervised_model", "--metric", "roc_auc")
    assert result.exit_code == 0, result.output
    assert "model search: roc_auc" in result.output and "with roc_auc " in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--metric", "acuracy"], "unknown metric 'acuracy': did you mean accuracy"),
    (["--target", "weather", "--metric", "r2"], "'r2' scores regression"),
    (["--target", "weather", "--metric", "roc_auc"], "use e.g. roc_auc_ovr"),
    (["--keep-column", "wind"], "--keep-column keeps a column that leaks the target"),
    (["--target", "weather", "--keep-column", "nope"], "cannot keep 'nope': no such column"),
])
def test_an_unknown_metric_or_kept_column_is_refused(app, models_home, sample, args, message):
    result = run(app, sample, "--analyses", "feature_importance", *args)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output
