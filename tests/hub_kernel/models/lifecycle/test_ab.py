import json

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hub_kernel.exceptions import ModelError
from hub_kernel.models.features import infer_task
from hub_kernel.models.lifecycle.ab import (
    ABResult,
    ab_test,
    ab_test_predictions,
    log_ab_result,
)


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0,
                                                        stratify=y)
    good = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    dummy = DummyClassifier(strategy="most_frequent")
    return good.fit(X_train, y_train), dummy.fit(X_train, y_train), X_test, y_test


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    good = make_pipeline(StandardScaler(), Ridge())
    return good.fit(X_train, y_train), DummyRegressor().fit(X_train, y_train), X_test, y_test


# --- classification: McNemar ------------------------------------------------------------------


def test_a_clearly_better_classifier_is_promoted_chi_square_path(cancer):
    good, dummy, X, y = cancer
    result = ab_test(dummy, good, X, y)
    assert isinstance(result, ABResult)
    assert result.task == "classification" and result.metric == "accuracy" and result.n == len(y)
    assert result.test == "McNemar chi-square (continuity-corrected)"
    assert result.details["discordant"] >= 25
    assert result.challenger_metric > 0.9 > 0.7 > result.champion_metric
    assert result.p_value < result.alpha == 0.05
    assert result.decision == "promote" and result.promote
    b, c = result.details["champion_only_correct"], result.details["challenger_only_correct"]
    assert result.statistic == pytest.approx((abs(b - c) - 1) ** 2 / (b + c))
    assert (c - b) / result.n == pytest.approx(result.improvement)
    assert "promote the challenger" in result.explanation
    assert f"{result.challenger_metric:.4g}" in result.explanation
    assert "better than the champion's" in result.rule and "p < alpha" in result.rule


def test_exact_binomial_path_on_few_discordant_pairs(cancer):
    good, dummy, X, y = cancer
    result = ab_test(dummy, good, X.iloc[:40], y.iloc[:40])
    assert result.test == "McNemar exact (binomial)"
    assert result.details["discordant"] < 25
    from scipy.stats import binomtest

    b = int(result.details["champion_only_correct"])
    c = int(result.details["challenger_only_correct"])
    assert result.p_value == pytest.approx(binomtest(c, b + c, 0.5).pvalue)
    assert result.decision == "promote"


def test_exact_path_not_significant_holds():
    y = np.array([0, 1] * 15)
    champion = y.copy()
    challenger = y.copy()
    champion[:3] = 1 - champion[:3]  # champion wrong on 3 rows, challenger right: 3 discordant
    result = ab_test_predictions(y, champion, challenger, task="classification")
    assert result.test == "McNemar exact (binomial)" and result.challenger_metric == 1.0
    assert result.p_value == pytest.approx(0.25)
    assert result.decision == "hold" and "not significant" in result.explanation


def test_identical_models_hold(cancer):
    good, _, X, y = cancer
    result = ab_test(good, good, X, y)
    assert result.test == "McNemar (no discordant pairs)"
    assert result.p_value == 1.0 and result.decision == "hold"
    assert "is equal to" in result.explanation


def test_a_worse_challenger_holds_even_when_significant(cancer):
    good, dummy, X, y = cancer
    result = ab_test(good, dummy, X, y)
    assert result.p_value < 0.05  # significantly different...
    assert result.decision == "hold"  # ...but in the wrong direction
    assert "challenger is not better" in result.explanation


def test_equally_good_models_are_rarely_promoted():
    # two independent classifiers, each right 80% of the time: the gate's false promotions
    rng = np.random.default_rng(0)
    promoted = 0
    for _ in range(300):
        y = rng.integers(0, 2, 200)
        champion = np.where(rng.random(200) < 0.8, y, 1 - y)
        challenger = np.where(rng.random(200) < 0.8, y, 1 - y)
        promoted += ab_test_predictions(y, champion, challenger, "classification").promote
    assert promoted / 300 <= 0.05


# --- regression: Wilcoxon ------------------------------------------------------------------------


def test_a_clearly_better_regressor_is_promoted(diabetes):
    good, dummy, X, y = diabetes
    result = ab_test(dummy, good, X, y)
    assert result.task == "regression" and result.metric == "mae"
    assert result.test == "Wilcoxon signed-rank" and not result.higher_is_better
    assert result.challenger_metric < result.champion_metric
    assert result.p_value < 0.05 and result.decision == "promote"
    assert result.improvement > 10


def test_identical_and_worse_regressors_hold(diabetes):
    good, dummy, X, y = diabetes
    same = ab_test(good, good, X, y)
    assert same.test == "Wilcoxon signed-rank (all errors equal)"
    assert same.p_value == 1.0 and same.decision == "hold"
    worse = ab_test(good, dummy, X, y)
    assert worse.decision == "hold" and worse.challenger_metric > worse.champion_metric


def test_equally_good_regressors_are_rarely_promoted():
    rng = np.random.default_rng(1)
    promoted = 0
    for _ in range(200):
        y = rng.normal(size=100)
        promoted += ab_test_predictions(y, y + rng.normal(size=100), y + rng.normal(size=100),
                                        "regression").promote
    assert promoted / 200 <= 0.05


def test_alpha_is_overridable_and_read_from_settings(diabetes, monkeypatch):
    good, dummy, X, y = diabetes
    strict = ab_test(dummy, good, X, y, alpha=1e-12)
    assert strict.alpha == 1e-12 and strict.decision == "hold"
    from hub_kernel.core import config

    monkeypatch.setenv("HUB_AB_ALPHA", "0.01")
    config.reload_settings()
    try:
        assert ab_test(dummy, good, X, y).alpha == 0.01
    finally:
        monkeypatch.undo()
        config.reload_settings()


def test_task_inference():
    assert infer_task(np.array([0, 1, 1, 0])) == "classification"
    assert infer_task(np.array(["a", "b"])) == "classification"
    assert infer_task(np.array([True, False])) == "classification"
    assert infer_task(np.linspace(0, 1, 50)) == "regression"
    assert infer_task(np.arange(100)) == "regression"


def test_bad_input_is_a_model_error(cancer):
    y = np.array([0, 1] * 10)
    with pytest.raises(ModelError, match="differ in length"):
        ab_test_predictions(y, y[:-1], y)
    with pytest.raises(ModelError, match="at least 10"):
        ab_test_predictions(y[:6], y[:6], y[:6])
    with pytest.raises(ModelError, match="missing values"):
        ab_test_predictions(np.where(np.arange(20) == 3, np.nan, 1.0), y, y)
    with pytest.raises(ModelError, match="task must be"):
        ab_test_predictions(y, y, y, task="ranking")  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="numeric"):
        ab_test_predictions(np.array(["a"] * 20), y, y, task="regression")
    with pytest.raises(ModelError, match="no predict method"):
        ab_test(object(), cancer[0], cancer[2], cancer[3])
    with pytest.raises(ModelError, match="could not predict"):
        ab_test(cancer[0], cancer[0], cancer[2].iloc[:, :3], cancer[3])


# --- MLflow ---------------------------------------------------------------------------------


def test_log_ab_result_writes_a_readable_run(hub_home, cancer):
    from mlflow.tracking import MlflowClient

    from hub_kernel.core.config import get_settings

    good, dummy, X, y = cancer
    result = ab_test(dummy, good, X, y)
    run_id = log_ab_result(result, "cancer-clf", champion_version=1, challenger_version="2")
    settings = get_settings()
    assert settings.tracking_uri.startswith("sqlite:///") and str(hub_home) in settings.tracking_uri
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    experiment = client.get_experiment_by_name("hub-ab/cancer-clf")
    assert experiment is not None
    assert experiment.artifact_location == settings.artifacts_dir.as_uri()
    run = client.get_run(run_id)
    assert run.info.experiment_id == experiment.experiment_id
    assert run.info.status == "FINISHED"
    assert run.data.tags["hub.kind"] == "ab_test" and run.data.tags["hub.decision"] == "promote"
    assert run.data.params["champion_version"] == "1"
    assert run.data.params["challenger_version"] == "2"
    assert run.data.params["test"] == result.test and run.data.params["rule"] == result.rule
    assert run.data.metrics["p_value"] == pytest.approx(result.p_value)
    assert run.data.metrics["challenger_accuracy"] == pytest.approx(result.challenger_metric)
    assert run.data.metrics["champion_metric"] == pytest.approx(result.champion_metric)
    path = client.download_artifacts(run_id, "ab_result.json", str(hub_home))
    with open(path) as handle:
        assert json.load(handle)["decision"] == "promote"
    # a second comparison goes to the same experiment
    second = log_ab_result(ab_test(good, good, X, y), "cancer-clf", 2, 3)
    runs = client.search_runs([experiment.experiment_id])
    assert {r.info.run_id for r in runs} == {run_id, second}
