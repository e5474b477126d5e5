"""The budgeted pipeline search: anytime model, MLflow child runs, audit entries, every family's
pipeline, and ensembles."""

from __future__ import annotations

import time

import numpy as np
import pytest

from hub_kernel.automl.ensembles import WeightedEnsemble
from hub_kernel.automl.pipelines import config_pipeline as build_pipeline
from hub_kernel.automl.search import PipelineSearch
from hub_kernel.automl.space import FAMILIES, Config
from hub_kernel.exceptions import ModelError


def test_budget_is_respected_and_a_model_is_there_at_any_time(radial):
    X, y = radial(1, n=200)
    seen: list[bool] = []

    def check(evaluation, search):
        model = search.best_model_
        seen.append(model is not None and model.predict(X.head(5)).shape == (5,))

    result = PipelineSearch(budget=2.5, warm_start=False, callback=check).fit(X, y)
    # no evaluation starts after the budget is spent (whatever the machine's load); what runs
    # on is one step cut short and the final refit, never a hang
    assert all(e.finished_at - e.seconds <= 2.5 for e in result.evaluations)
    assert seen and all(seen)
    assert result.best.score == max(e.score for e in result.evaluations)
    assert result.best.score > result.baseline_score
    assert result.predict(X.head(3)).shape == (3,)
    board = result.leaderboard()
    assert board["rank"].tolist() == list(range(1, len(board) + 1))
    assert board["score"].is_monotonic_decreasing


def test_search_in_the_background_can_be_stopped(radial):
    X, y = radial(2, n=200)
    search = PipelineSearch(budget=60, warm_start=False)
    future = search.fit_in_background(X, y)
    deadline = time.monotonic() + 20
    while search.best_model_ is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert search.best_model_ is not None  # usable while the search runs
    search.stop()
    result = future.result(timeout=30)
    assert result.stop_reason == "stopped on request"


def test_every_choice_is_explained_and_audited(audit, radial):
    X, y = radial(3, n=150)
    result = PipelineSearch(budget=30, max_evaluations=8, audit=audit, warm_start=False,
                            families=["linear", "knn", "svm"]).fit(X, y)
    assert len(result.evaluations) == 8
    entries = audit.entries(agent="strategy")
    evaluated = [e for e in entries if e.action.startswith("evaluate:")]
    assert len(evaluated) == 8
    assert all(e.explanation and e.propensity is not None and 0 < e.propensity <= 1
               for e in evaluated)
    bandit = [e for e in result.evaluations if e.source == "bandit"]
    assert bandit and all("chosen with probability" in e.explanation for e in bandit)
    assert any(e.expected is not None for e in bandit)
    assert entries[-1].action == "stop" and "8 evaluations done" in entries[-1].explanation
    assert audit.verify().ok


def test_evaluations_are_mlflow_child_runs(models_home, radial):
    from mlflow import MlflowClient

    from hub_kernel.core.config import get_settings

    X, y = radial(4, n=120)
    result = PipelineSearch(budget=30, max_evaluations=4, track=True, warm_start=False,
                            name="radial", families=["linear", "knn"]).fit(X, y)
    client = MlflowClient(tracking_uri=get_settings().tracking_uri)
    parent = client.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["best_score"] == pytest.approx(result.best.score)
    assert parent.data.tags["hub.best_configuration"] == result.best.config.label()
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{result.parent_run_id}'")
    assert len(children) == 4
    assert {c.info.run_id for c in children} == {e.run_id for e in result.evaluations}
    for child in children:
        assert child.data.tags["hub.explanation"]
        assert "cv_score" in child.data.metrics and "family" in child.data.params


def test_bad_input_is_a_model_error(radial):
    X, y = radial(5, n=60)
    with pytest.raises(ModelError, match="budget must be a positive"):
        PipelineSearch(budget=0).fit(X, y)
    with pytest.raises(ModelError, match="unknown estimator families"):
        PipelineSearch(budget=5, families=["nope"], warm_start=False).fit(X, y)
    with pytest.raises(ModelError, match="unknown metric"):
        PipelineSearch(budget=5, metric="nope", warm_start=False).fit(X, y)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_builds_and_fits_for_both_tasks(family, radial):
    from hub_kernel.models.features import plan_features

    X, y = radial(6, n=80)
    X["colour"] = np.where(X["f2"] > 0, "red", "blue")
    plan = plan_features(X)
    for task, target in (("classification", y), ("regression", X["f0"] * 2.0)):
        config = Config(family, FAMILIES[family].defaults(task, 8))
        model = build_pipeline(config, plan, task, n_rows=len(X), n_features=8)
        model.fit(X, target)
        assert model.predict(X.head(2)).shape == (2,)


def test_ensemble_is_used_only_when_it_beats_the_best_alone(radial):
    X, y = radial(9, n=200)
    result = PipelineSearch(budget=30, max_evaluations=10, metric="accuracy",
                            warm_start=False).fit(X, y)
    if result.ensemble:
        assert isinstance(result.model, WeightedEnsemble)
        assert result.final_score > result.best.score
        assert sum(w for _, w in result.ensemble) == pytest.approx(1.0)
        assert len(result.ensemble) >= 2
    else:
        assert result.final_score == result.best.score
    assert set(result.predict(X.head(20))) <= {"in", "out"}
    alone = PipelineSearch(budget=30, max_evaluations=10, metric="accuracy", warm_start=False,
                           ensemble=False).fit(X, y)
    assert not alone.ensemble and alone.final_score == alone.best.score
