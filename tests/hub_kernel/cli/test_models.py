"""``hub train``, ``hub models ...`` and ``hub mlflow-ui`` (mounted here as hub_kernel.cli will)."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from hub_kernel.cli.models import app as models_app
from hub_kernel.cli.models import mlflow_ui_command, train_command

runner = CliRunner()

hub = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
hub.add_typer(models_app, name="models", help="Registered models.")
hub.command("train")(train_command)
hub.command("mlflow-ui")(mlflow_ui_command)


def _invoke(*args: str):
    return runner.invoke(hub, list(args))


def _ok(*args: str) -> str:
    result = _invoke(*args)
    assert result.exit_code == 0, result.output
    return result.output


def _fails(*args: str, match: str) -> str:
    result = _invoke(*args)
    assert result.exit_code == 1, result.output
    assert match in result.output
    assert "Traceback" not in result.output
    return result.output


@pytest.mark.slow
def test_train_from_a_file_then_manage_the_model(models_home, make_mixed):
    path = models_home / "customers.csv"
    make_mixed(90).to_csv(path, index=False)

    out = _ok("train", str(path), "--target", "label", "--cv", "3")
    assert "stored as" in out
    assert "customers-label" in out and "version 1" in out and "champion" in out
    assert "f1_macro (primary)" in out and "roc_auc" in out
    assert "dropped feature 'empty'" in out

    # by catalog name this time, as a named model; the second version is the challenger
    out = _ok("train", "customers.csv", "--target", "label", "--name", "churn", "--cv", "2")
    out = _ok("train", "customers.csv", "--target", "label", "--name", "churn", "--cv", "2")
    assert "version 2" in out and "challenger" in out

    out = _ok("models", "list")
    assert "churn" in out and "customers-label" in out and "f1_macro" in out
    out = _ok("models", "show", "churn")
    assert "champion" in out and "challenger" in out and "customers.csv" in out

    _fails("models", "promote", "churn", "2", match="has not passed the A/B gate")
    assert "champion is now version 2" in _ok("models", "promote", "churn", "2", "--override",
                                              "--reason", "reviewed by hand")
    assert "champion is version 1" in _ok("models", "rollback", "churn")
    _fails("models", "rollback", "churn", match="no earlier champion")
    _fails("models", "promote", "churn", "7", match="no version 7")

    _fails("models", "delete", "churn", "--permanent", match="--permanent --yes")
    assert "archived" in _ok("models", "delete", "churn")
    assert "churn" not in _ok("models", "list")
    assert "churn" in _ok("models", "list", "--all")
    assert "restored" in _ok("models", "restore", "churn")
    assert "deleted permanently" in _ok("models", "delete", "churn", "--permanent", "--yes")
    _fails("models", "show", "churn", match="no model named 'churn'")
    assert "no stale runs" in _ok("models", "repair")


def test_train_errors_are_one_line_and_exit_1(models_home, make_mixed):
    _fails("train", "no-such-dataset", "--target", "x", match="no dataset 'no-such-dataset'")
    path = models_home / "one-class.csv"
    make_mixed(30).assign(label="same").to_csv(path, index=False)
    _fails("train", str(path), "--target", "label", match="single class")
    _fails("train", str(path), "--target", "label", "--type", "ranking",
           match="unknown --type")
    _fails("models", "show", "bad name!", match="invalid model name")


def test_models_list_on_an_empty_store(models_home):
    assert "no models yet" in _ok("models", "list")


def test_mlflow_ui_serves_hub_store_on_loopback(models_home):
    from hub_kernel.core.config import get_settings

    out = _ok("mlflow-ui", "--port", "5055", "--dry-run")
    settings = get_settings()
    assert "-m mlflow ui" in out
    assert f"--backend-store-uri {settings.tracking_uri}" in out
    assert f"--default-artifact-root {settings.artifacts_dir.as_uri()}" in out
    assert "--host 127.0.0.1 --port 5055" in out
    assert "0.0.0.0" not in out


def test_mlflow_ui_refuses_a_remote_store(models_home, monkeypatch):
    from hub_kernel.core import config

    monkeypatch.setenv("HUB_MLFLOW_TRACKING_URI", "http://127.0.0.1:1")
    config.reload_settings()
    _fails("mlflow-ui", "--dry-run", match="not a local SQLite file")


def _loans(n: int, seed: int):
    """Loan decisions that depend on ``sex``: any model fitting them is unfair."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], size=n)
    x = rng.normal(size=n)
    score = x + np.where(sex == "M", 1.25, -1.25) + rng.normal(scale=0.3, size=n)
    return pd.DataFrame({"x": x, "sex": sex, "approved": np.where(score > 0, "yes", "no")})


@pytest.mark.slow
def test_fairness_and_explanations_from_the_command_line(models_home):
    train, new = models_home / "loans.csv", models_home / "loans-new.csv"
    _loans(300, 0).to_csv(train, index=False)
    _loans(200, 1).to_csv(new, index=False)

    out = _ok("train", str(train), "--target", "approved", "--name", "loans", "--cv", "3")
    assert "possible sensitive columns: sex" in out and "--sensitive" in out
    assert "x drives the model most" in out or "sex drives the model most" in out

    result = _invoke("models", "fairness", "loans", str(new), "--sensitive", "sex")
    assert result.exit_code == 2, result.output
    assert "fairness FAIL" in result.output and "unfair across sex" in result.output
    assert "demographic parity difference" in result.output and "Traceback" not in result.output
    show = _ok("models", "show", "loans")
    assert "v1 fairness fail (sex): unfair across sex" in show
    # the declaration stays on the model: the next check and training use it
    assert _invoke("models", "fairness", "loans", "loans-new.csv").exit_code == 2
    out = _ok("train", "loans.csv", "--target", "approved", "--name", "loans", "--cv", "3")
    assert "fairness FAIL" in out and "challenger" in out and "cannot be promoted" in out
    _fails("models", "promote", "loans", "2", "--override", match="needs a reason")
    _fails("models", "fairness", "loans", "loans-new.csv", "--sensitive", "gender",
           match="'gender' not in the data")

    out = _ok("models", "explain", "loans", "loans-new.csv", "--repeats", "2")
    assert "permutation importance (drop in accuracy when the column is shuffled)" in out
    assert "drives the model most" in out and "sex" in out and "x" in out


@pytest.mark.slow
def test_train_with_a_budget_registers_the_winner_of_the_search(models_home, make_mixed):
    path = models_home / "customers.csv"
    make_mixed(120).to_csv(path, index=False)

    out = _ok("train", str(path), "--target", "label", "--budget", "3", "--cv", "3")
    assert "search winner:" in out and "leaderboard" in out
    winner = next(line for line in out.splitlines() if line.startswith("search winner:"))
    assert "customers-label" in out and "version 1" in out

    listed = _ok("models", "list")
    assert "customers-label" in listed and "f1_macro" in listed
    from hub_kernel.models.registry import ModelRegistry

    version = ModelRegistry().get_model_info("customers-label").version(1)
    assert version.tags["hub.search_winner"] in winner.replace("\n", "")
    shown = _ok("models", "show", "customers-label")
    assert "v1 searched 3.0 s: winner" in shown
    refused = _invoke("train", str(path), "--target", "label", "--budget", "0")
    assert refused.exit_code == 2 and "--budget" in refused.output


@pytest.mark.slow
def test_train_names_a_leaked_column_leaves_it_out_and_registers_the_searchs_winner(
        models_home):
    """Issue 16's "done when": `hub train FILE --target T --budget 10` on data with a leaked
    column names the leak, leaves it out and registers the winner of the search."""
    import numpy as np
    import pandas as pd

    from hub_kernel.models.registry import ModelRegistry

    rng = np.random.default_rng(0)
    n = 300
    size = rng.uniform(20, 200, n)
    rooms = rng.integers(1, 6, n)
    price = 1000 * size + 5000 * rooms + rng.normal(0, 20000, n)
    pd.DataFrame({"size": size, "rooms": rooms, "log_price": np.log(np.abs(price) + 1),
                  "price": price}).to_csv(models_home / "houses.csv", index=False)

    out = _ok("train", str(models_home / "houses.csv"), "--target", "price", "--budget", "3",
              "--cv", "3")
    assert "left out: log_price — a monotone transform of price" in out
    assert "--keep-column log_price" in out and "search winner:" in out
    assert "baseline (always predicting the mean)" in out
    version = ModelRegistry().get_model_info("houses-price").version(1)
    assert "log_price" in version.tags["hub.leaks_excluded"]
    trained_on = ModelRegistry().client.get_run(version.run_id).data.tags["hub.features"]
    assert "log_price" not in trained_on and "size" in trained_on
    kept = _ok("train", str(models_home / "houses.csv"), "--target", "price", "--cv", "3",
               "--keep-column", "log_price")
    assert "kept on request: log_price" in kept
    again = ModelRegistry().get_model_info("houses-price").version(2)
    assert "log_price" in ModelRegistry().client.get_run(again.run_id).data.tags["hub.features"]


def test_a_rare_class_is_judged_by_balanced_accuracy_beside_its_baseline(models_home):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    n = 400
    x = rng.normal(0, 1, n)
    frame = pd.DataFrame({"x": x, "noise": rng.normal(0, 1, n),
                          "fraud": (x + rng.normal(0, 0.3, n)) > 1.9})
    assert 0.01 < frame["fraud"].mean() < 0.05
    frame.to_csv(models_home / "payments.csv", index=False)
    out = _ok("train", str(models_home / "payments.csv"), "--target", "fraud", "--cv", "3")
    assert "balanced_accuracy (primary)" in out
    assert "baseline (always predicting the most common class)" in out and "0.5000" in out
    named = _ok("train", str(models_home / "payments.csv"), "--target", "fraud", "--cv", "3",
                "--metric", "roc_auc")
    assert "roc_auc (primary)" in named
    refused = _invoke("train", str(models_home / "payments.csv"), "--target", "fraud",
                      "--metric", "accuracyy")
    assert refused.exit_code == 1 and "accuracy" in refused.output
