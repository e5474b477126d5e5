"""Permutation importance: ranking, words, and what the trainer logs with each version."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression

from hub_kernel.exceptions import ModelError
from hub_kernel.models.explain import PermutationImportance, permutation_importance_report


def signal_and_noise(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """``y`` depends on ``x`` strongly, on ``w`` a little, and not at all on ``noise``."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"noise": rng.normal(size=n), "w": rng.normal(size=n),
                          "x": rng.normal(size=n)})
    y = np.where(2.0 * frame["x"] + 0.5 * frame["w"] + rng.normal(scale=0.3, size=n) > 0, 1, 0)
    return frame, y


def test_the_informative_feature_ranks_first():
    X, y = signal_and_noise()
    model = LogisticRegression().fit(X, y)
    report = permutation_importance_report(model, X, y, n_repeats=5, random_state=0)
    assert isinstance(report, PermutationImportance)
    assert report.features == ["x", "w", "noise"]
    assert report.scoring == "accuracy" and report.n_repeats == 5 and report.n_rows == 300
    assert report["x"].mean > 0.2 > report["w"].mean > report["noise"].mean
    assert abs(report["noise"].mean) < 0.02
    frame = report.to_frame()
    assert list(frame.columns) == ["feature", "mean", "std"] and frame.iloc[0]["feature"] == "x"
    sentence = report.explain()
    assert sentence.startswith("x drives the model most: shuffling it costs ")
    assert "accuracy" in sentence and "then w" in sentence
    assert "noise barely matters" in sentence


def test_a_regressor_is_measured_in_r2_and_rows_are_sampled():
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
    y = 3 * X["b"] + rng.normal(scale=0.1, size=400)
    model = RandomForestRegressor(n_estimators=10, random_state=0).fit(X, y)
    report = permutation_importance_report(model, X, y, n_repeats=2, max_rows=100)
    assert report.scoring == "r2" and report.n_rows == 100 and report.features[0] == "b"
    assert "b drives the model most" in report.explain() and "r2" in report.explain()


def test_a_model_relying_on_nothing_says_so():
    X, y = signal_and_noise()
    from sklearn.dummy import DummyClassifier

    report = permutation_importance_report(DummyClassifier().fit(X, y), X, y, n_repeats=2)
    assert report.explain().startswith("no column matters much")


def test_rows_the_model_cannot_score_are_a_model_error():
    X, y = signal_and_noise()
    model = LogisticRegression().fit(X, y)
    with pytest.raises(ModelError, match=r"permutation importance failed.*columns it was "
                                         "trained on"):
        permutation_importance_report(model, X.drop(columns="w"), y)
    with pytest.raises(ModelError, match="X has 300 rows but y has 10"):
        permutation_importance_report(model, X, y[:10])


def test_the_trainer_logs_importance_with_each_version(trainer, models_home):
    X, y = signal_and_noise(240)
    result = trainer.train_model_sync("signal", X.assign(label=y), "label",
                                      estimator=LogisticRegression())
    assert result.importance is not None and result.importance.features[0] == "x"
    assert result.importance.n_rows == 240  # every fold's held-out rows, once
    assert result.importance.n_repeats == 3 * result.cv_folds  # HUB_IMPORTANCE_REPEATS per fold
    client = trainer.registry.client
    run = client.get_run(result.run_id)
    assert run.data.metrics["importance.x"] == pytest.approx(result.importance["x"].mean)
    assert {"importance.w", "importance.noise"} <= set(run.data.metrics)
    path = client.download_artifacts(result.run_id, "hub/permutation_importance.json",
                                     str(models_home))
    with open(path) as handle:
        stored = json.load(handle)
    assert stored["importances"][0]["feature"] == "x"
    assert stored["explanation"].startswith("x drives the model most")


def test_importance_can_be_turned_off(trainer, monkeypatch):
    from hub_kernel.core import config

    monkeypatch.setenv("HUB_IMPORTANCE_REPEATS", "0")
    config.reload_settings()
    X, y = signal_and_noise(90)
    result = trainer.train_model_sync("signal", X.assign(label=y), "label",
                                      estimator=LogisticRegression())
    assert result.importance is None
    assert not any(k.startswith("importance.") for k in
                   trainer.registry.client.get_run(result.run_id).data.metrics)
