"""What the search is judged by: it leaves out leaks of the target (and says so in its result
and its MLflow run), scores imbalanced classes by balanced accuracy, uses a named scorer, and
on a target nothing predicts answers with the baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hub_kernel.automl.search import PipelineSearch
from hub_kernel.exceptions import ModelError


def leaky(n: int = 240, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"size": rng.normal(size=n), "rooms": rng.integers(1, 6, n)})
    price = pd.Series(np.exp(2 + 0.5 * X["size"] + 0.2 * rng.normal(size=n)), name="price")
    X["log_price"] = np.log(price)
    X["price_copy"] = price
    X["row"] = np.arange(n)
    return X, price


def quick(**kwargs) -> PipelineSearch:
    kwargs.setdefault("families", ["linear", "knn"])
    return PipelineSearch(budget=20, max_evaluations=3, warm_start=False, **kwargs)


def test_leaks_of_the_target_are_left_out_and_named():
    X, y = leaky()
    result = quick().fit(X, y)
    assert set(result.excluded) == {"log_price", "price_copy", "row"}
    assert set(result.features) <= {"size", "rooms"}
    assert any("log_price was left out as a leak of price" in n for n in result.notes)
    assert "left out as leaks: " in result.summary()
    assert result.best.score < 0.99  # not the 0.9998 a copy of the target gives
    assert result.predict(X.head(3)).shape == (3,)  # raw rows, the leaks among them


def test_a_column_kept_on_purpose_is_used():
    X, y = leaky()
    kept = quick(keep_columns=["log_price"]).fit(X, y)
    assert "log_price" in kept.features and "log_price" not in kept.excluded
    assert [leak.column for leak in kept.leaks.kept] == ["log_price"]
    assert kept.best.score > quick().fit(X, y).best.score


def test_the_mlflow_run_lists_the_columns_left_out(models_home):
    from mlflow import MlflowClient

    from hub_kernel.core.config import get_settings

    X, y = leaky()
    result = quick(track=True, name="houses").fit(X, y)
    run = MlflowClient(tracking_uri=get_settings().tracking_uri).get_run(result.parent_run_id)
    assert run.data.params["excluded_columns"] == "log_price, price_copy, row"
    assert run.data.tags["hub.leaks_excluded"] == "log_price, price_copy, row"
    assert "log_price — a monotone transform of price" in run.data.tags["hub.leaks"]


def rare(n: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """3% positives, partly predictable from ``x``."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n)})
    order = np.argsort(-(X["x"].to_numpy() + 0.5 * rng.normal(size=n)))
    y = np.full(n, "no", dtype=object)
    y[order[: int(0.03 * n)]] = "yes"
    return X, pd.Series(y, name="fraud")


def test_a_three_percent_target_is_not_scored_by_accuracy_and_has_its_baseline():
    X, y = rare()
    result = quick().fit(X, y)
    assert result.metric == "balanced_accuracy"
    assert result.baseline_score == pytest.approx(0.5)  # "always no" is chance, not 0.97
    assert result.beats_baseline and "(baseline 0.5000)" in result.summary()


def test_a_named_scorer_is_used_and_an_unknown_or_unfitting_one_refused():
    X, y = rare()
    assert quick(metric="roc_auc").fit(X, y).metric == "roc_auc"
    with pytest.raises(ModelError, match="unknown metric 'rocauc': did you mean roc_auc"):
        quick(metric="rocauc").fit(X, y)
    with pytest.raises(ModelError, match="'r2' scores regression"):
        quick(metric="r2").fit(X, y)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_on_a_target_nothing_predicts_the_answer_is_the_baseline(task):
    # the test of "beats the baseline" is at the 5% level: some noise samples (a few in a
    # hundred) hold a chance pattern that every split of their rows confirms
    rng = np.random.default_rng(101 if task == "classification" else 100)
    n = 300
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=list("abcde"))
    y = pd.Series(rng.choice(["a", "b"], n) if task == "classification"
                  else rng.normal(size=n), name="noise")
    result = PipelineSearch(budget=30, max_evaluations=12, warm_start=False,
                            families=["linear", "knn", "rf"]).fit(X, y)
    assert not result.beats_baseline
    assert result.final_score == result.baseline_score
    assert result.summary().startswith("no model beats the baseline")
    assert any(n.startswith("no model beats the baseline") for n in result.notes)
    predicted = result.predict(X.head(20))
    assert len(set(np.asarray(predicted).tolist())) == 1  # the most common class / the mean


def test_a_predictable_target_still_beats_the_baseline(radial):
    X, y = radial(1, n=200)
    result = quick().fit(X, y)
    assert result.beats_baseline and result.final_score > result.baseline_score
