"""``ModelTrainer.train_model(..., budget=S)``: the strategy search's winner registered as a
version (its leaderboard nested under the run, the choice audited), retraining that searches
again from the last winner, an ensemble winner registered as one ``Blend``, frame-trained models
retrained from the catalog, and the awaitable registry API."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from hub_kernel.exceptions import ModelError

FAST = {"max_iter": 20}


def _children(trainer, parent_id: str) -> list:
    store = trainer.registry.store
    return store.client.search_runs([store.experiment_id],
                                    f"tags.mlflow.parentRunId = '{parent_id}'")


@pytest.mark.slow
def test_a_budget_registers_the_search_winner_and_retrain_searches_again_from_it(
        trainer, mixed):
    from hub_kernel.safety.audit import AuditLog

    result = trainer.train_model_sync("churn", mixed, "label", budget=3)

    # the winner of the search is the registered version, and says so
    assert result.search is not None and result.budget == 3.0
    assert result.version == 1 and result.alias == "champion"
    version = trainer.get_model_info_sync("churn").version(1)
    assert version.tags["hub.search_winner"] == result.search.winner
    assert float(version.tags["hub.search_budget"]) == 3.0
    assert result.search.n_evaluations >= 2
    assert result.search.score > result.search.baseline

    # it loads and predicts raw rows (text categories, dates, gaps and all)
    model = trainer.load_model("churn")
    raw = mixed.drop(columns=["label"]).head(7)
    assert set(model.predict(raw)) <= {"yes", "no"}

    # the leaderboard: the search run is a child of the training run, each evaluation its child
    [search_run] = _children(trainer, result.run_id)
    assert search_run.info.run_id == result.search.parent_run_id
    assert len(_children(trainer, search_run.info.run_id)) == result.search.n_evaluations

    # the choice is in the audit log, naming the winner
    [entry] = [e for e in AuditLog().entries() if e.action == "register:churn"]
    assert entry.agent == "strategy" and result.search.winner in entry.explanation

    # retraining searches again within the stored budget, starting from what won
    [outcome] = trainer.retrain_models_sync()
    assert outcome.status == "trained", outcome.reason
    again = outcome.result
    assert again.version == 2 and again.budget == 3.0 and again.search is not None
    first = min(again.search.leaderboard, key=lambda row: row["evaluation"])
    assert first["source"] == "start"
    assert first["config"] == json.loads(version.tags["hub.search_start"])[0]


def test_without_a_budget_the_fast_default_is_trained(trainer, mixed):
    result = trainer.train_model_sync("quick", mixed, "label", params=FAST)
    assert result.search is None and result.budget is None
    assert "hub.search_winner" not in trainer.get_model_info_sync("quick").version(1).tags


def test_a_budget_with_an_estimator_or_not_positive_is_refused(trainer, mixed):
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(ModelError, match="not both"):
        trainer.train_model_sync("x", mixed, "label", budget=2,
                                 estimator=LogisticRegression())
    with pytest.raises(ModelError, match="positive number of seconds"):
        trainer.train_model_sync("x", mixed, "label", budget=0)
    assert trainer.list_models_sync(include_archived=True) == []


def test_an_ensemble_winner_is_registered_as_one_blend_that_loads(trainer, iris):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    from hub_kernel.models.blend import Blend
    from hub_kernel.models.features import build_pipeline, plan_features
    from hub_kernel.models.searching import SearchOutcome

    asked = []

    def searcher(request):
        asked.append(request)
        plan = plan_features(request.X)
        blend = Blend([("linear", build_pipeline(plan, LogisticRegression(max_iter=500))),
                       ("forest", build_pipeline(plan, RandomForestClassifier(
                           n_estimators=20, random_state=0)))], [0.6, 0.4],
                      "classification")
        board = ({"rank": 1, "evaluation": 1, "configuration": "linear", "score": 0.95,
                  "std": 0.01, "seconds": 0.1, "source": "default",
                  "config": {"family": "linear", "params": {"C": 1.0}}},)
        return SearchOutcome(estimator=blend, winner="ensemble of linear + forest",
                             metric="f1_macro", score=0.96, baseline=0.17, leaderboard=board,
                             seconds=0.2, stop_reason="budget spent",
                             start=({"family": "linear", "params": {"C": 1.0}},))

    result = trainer.train_model_sync("iris", iris, "species", budget=2, searcher=searcher)
    [request] = asked
    assert request.task == "classification" and request.budget == 2.0
    assert "species" not in request.X.columns
    assert result.search.winner == "ensemble of linear + forest"
    assert result.metrics["f1_macro"] > 0.85  # the blend, cross-validated by the trainer
    model = trainer.load_model("iris")
    assert isinstance(model, Blend)
    predicted = model.predict(iris.drop(columns=["species"]).head(10))
    assert set(predicted) <= {"setosa", "versicolor", "virginica"}
    assert np.allclose(model.predict_proba(iris.drop(columns=["species"]).head(3)).sum(axis=1),
                       1.0)
    assert result.importance is not None  # the blend is explained like any pipeline


def test_a_model_trained_from_a_frame_is_retrained_from_the_catalog(trainer, mixed):
    from hub_kernel.data.catalog import Catalog

    first = trainer.train_model_sync("frame", mixed, "label", params=FAST)
    record = Catalog().get(first.dataset_id)
    assert record.name == "frame.parquet" and record.n_rows == len(mixed)
    [outcome] = trainer.retrain_models_sync()
    assert outcome.status == "trained", outcome.reason
    assert outcome.result.version == 2 and outcome.result.dataset_id == record.id


def test_the_registry_api_is_awaitable_with_sync_twins(trainer, mixed):
    trainer.train_model_sync("churn", mixed, "label", params=FAST)

    async def cell():
        listed = await trainer.list_models()
        info = await trainer.get_model_info("churn")
        await trainer.delete_model("churn")
        return listed, info, await trainer.list_models()

    listed, info, after = asyncio.run(cell())
    assert [m.name for m in listed] == ["churn"] and info.champion == 1 and after == []
    assert [m.name for m in trainer.list_models_sync(include_archived=True)] == ["churn"]
