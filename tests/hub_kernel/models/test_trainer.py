"""Training against a real MLflow SQLite store: runs, metrics, lineage, signature, retraining."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hub_kernel.models.features import infer_task, plan_features

FAST = {"max_iter": 15}  # histogram gradient boosting, small budget


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["a", "b", "a", "c"] * 10, "classification"),
        ([True, False] * 20, "classification"),
        ([0, 1, 2] * 20, "classification"),
        (list(range(200)), "regression"),
        ([0.5, 1.25, 3.0] * 20, "regression"),
        ([1.0, 2.0, 3.0] * 20, "classification"),
    ],
)
def test_task_is_inferred_from_the_target(values, task):
    assert infer_task(pd.Series(values)) == task


def test_feature_plan_sorts_columns_and_says_why_it_drops(mixed):
    plan = plan_features(mixed.drop(columns=["label"]))
    assert plan.numeric == ("x", "size")
    assert plan.categorical == ("colour",)
    assert plan.datetime == ("when",)
    assert set(plan.dropped) == {"customer_id", "comment", "empty"}
    assert plan.dropped["empty"] == "all values missing"
    assert "identifier" in plan.dropped["customer_id"]


def test_columns_of_lists_are_dropped_not_fatal():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0] * 5, "tags": [["a"], ["b", "c"], []] * 5})
    plan = plan_features(frame)
    assert plan.numeric == ("x",)
    assert plan.dropped == {"tags": "holds lists or mappings"}


def test_targets_as_arrays_and_column_names_are_accepted(iris):
    from hub_kernel.models.features import prepare_xy

    X = iris.drop(columns=["species"])
    codes = iris["species"].astype("category").cat.codes.to_numpy()
    prepared = prepare_xy(X, codes.reshape(-1, 1), "auto", None, 3)
    assert prepared.task == "classification" and prepared.target == "target"
    prepared = prepare_xy(iris, "species", "auto", None, 3)
    assert "species" not in prepared.X.columns and prepared.target == "species"
    prepared = prepare_xy(X.to_numpy(), iris["sepal length (cm)"], "auto", None, 3)
    assert prepared.task == "regression" and list(prepared.X.columns)[:2] == ["x0", "x1"]


@pytest.mark.slow
def test_pipeline_predicts_raw_rows_with_unseen_categories_and_types(mixed):
    from hub_kernel.models.features import build_pipeline, default_estimator

    X = mixed.drop(columns=["label"])
    plan = plan_features(X)
    pipeline = build_pipeline(plan, default_estimator("classification", 0).set_params(**FAST))
    pipeline.fit(X, mixed["label"])
    new = X.head(4).copy()
    new["colour"] = ["purple", None, "red", "ultraviolet"]  # never seen in training
    new["when"] = [pd.NaT, *new["when"].iloc[1:]]
    new["x"] = [np.inf, np.nan, 1.0, 2.0]
    assert set(pipeline.predict(new)) <= {"yes", "no"}
    names = pipeline.named_steps["preprocess"].get_feature_names_out()
    assert "datetime__when_year" in names


@pytest.mark.slow
def test_lifecycle_train_list_info_promote_rollback_archive_delete(trainer, mixed):
    from hub_kernel.exceptions import ModelError, RegistryStateError

    first = asyncio.run(trainer.train_model("churn", mixed, "label", params=FAST))
    assert (first.version, first.alias, first.task) == (1, "champion", "classification")
    assert first.primary_metric == "f1_macro"
    for metric in ("accuracy", "f1_macro", "roc_auc"):  # binary: roc_auc too
        assert 0 <= first.metrics[metric] <= 1
        assert f"{metric}_std" in first.metrics
    assert first.dropped["empty"] == "all values missing"
    assert any("'empty'" in note for note in first.notes)

    second = trainer.train_model_sync("churn", mixed.sample(frac=1, random_state=1), "label",
                                      params={"max_iter": 10})
    assert (second.version, second.alias) == (2, "challenger")
    assert second.dataset_fingerprint != first.dataset_fingerprint  # row order differs

    [summary] = trainer.list_models_sync()
    assert (summary.name, summary.latest_version, summary.champion, summary.challenger) == (
        "churn", 2, 1, 2)
    assert summary.primary_metric == "f1_macro"
    assert summary.champion_score == pytest.approx(first.score)

    info = trainer.get_model_info_sync("churn")
    assert [v.version for v in info.versions] == [1, 2]
    v1, v2 = info.versions
    assert v1.run_id == first.run_id and v1.aliases == ("champion",)
    assert v2.aliases == ("challenger",)
    assert v1.metrics["f1_macro"] == pytest.approx(first.metrics["f1_macro"])
    assert v1.dataset_fingerprint == first.dataset_fingerprint
    assert (v1.status, v1.run_status, v1.target, v1.task) == (
        "READY", "FINISHED", "label", "classification")
    assert v1.created_at is not None

    assert info.primary_metric == "f1_macro"
    card = info.to_dict()
    assert card["champion"] == 1 and card["versions"][0]["created"]
    json.dumps(card)  # plain data

    model = trainer.load_model("churn")
    rows = mixed.drop(columns=["label"]).head(3).assign(colour="never-seen")
    assert set(model.predict(rows)) <= {"yes", "no"}

    registry = trainer.registry
    with pytest.raises(RegistryStateError, match="has not passed the A/B gate"):
        registry.promote("churn", 2)
    with pytest.raises(RegistryStateError, match="needs a reason"):
        registry.promote("churn", 2, override=True)
    promoted = registry.promote("churn", 2, reason="analyst checked it", override=True)
    assert (promoted.champion, promoted.challenger) == (2, None)
    with pytest.raises(RegistryStateError, match="already the champion"):
        registry.promote("churn", 2)
    with pytest.raises(ModelError, match="no version 9"):
        registry.promote("churn", 9)
    rolled = registry.rollback("churn")
    assert rolled.champion == 1
    with pytest.raises(RegistryStateError, match="no earlier champion"):
        registry.rollback("churn")
    assert trainer.get_model_info_sync("churn").version(2).tags["hub.promotion_reason"]

    trainer.delete_model_sync("churn")  # archive
    assert trainer.list_models_sync() == []
    [archived] = trainer.list_models_sync(include_archived=True)
    assert archived.archived and archived.champion == 1 and archived.n_versions == 2
    with pytest.raises(RegistryStateError, match="archived"):
        trainer.train_model_sync("churn", mixed, "label", params=FAST)
    assert len(trainer.get_model_info_sync("churn").versions) == 2  # nothing added
    registry.restore_model("churn")
    assert [m.name for m in trainer.list_models_sync()] == ["churn"]

    trainer.delete_model_sync("churn", permanent=True)
    assert trainer.list_models_sync(include_archived=True) == []
    with pytest.raises(ModelError, match="no model named 'churn'"):
        trainer.get_model_info_sync("churn")


@pytest.mark.slow
def test_regression_run_records_params_lineage_signature_and_example(trainer, diabetes):
    import mlflow
    from mlflow import MlflowClient

    from hub_kernel.core.config import get_settings
    from hub_kernel.data.catalog import Catalog

    path = get_settings().home / "diabetes.csv"
    diabetes.to_csv(path, index=False)
    record = Catalog().ingest(path).record

    result = trainer.train_model_sync("sugar", diabetes, "target", dataset_id=record.name,
                                      params=FAST, tags={"team": "health"})
    assert result.task == "regression" and result.primary_metric == "r2"
    assert set(result.metrics) >= {"rmse", "rmse_std", "mae", "mae_std", "r2", "r2_std"}
    assert result.metrics["rmse"] > 0
    assert result.dataset_id == record.id

    uri = get_settings().tracking_uri
    client = MlflowClient(uri, uri)
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    params, tags = run.data.params, run.data.tags
    assert params["estimator"] == "HistGradientBoostingRegressor"
    assert params["estimator.max_iter"] == "15"
    assert params["cv_folds"] == "3" and params["cv_strategy"] == "KFold"
    assert "median impute" in params["prep.numeric"]
    assert tags["hub.dataset_id"] == record.id
    assert tags["hub.dataset_name"] == "diabetes.csv"
    assert tags["hub.target"] == "target"
    assert json.loads(tags["hub.features"]) == [c for c in diabetes.columns if c != "target"]
    assert tags["hub.dataset_fingerprint"] == result.dataset_fingerprint
    assert tags["team"] == "health"
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == "hub"
    assert experiment.artifact_location == get_settings().artifacts_dir.as_uri()

    version = client.get_model_version("sugar", "1")
    from hub_kernel.models.tracking import TrackingStore

    with TrackingStore.from_settings().fluent():
        info = mlflow.models.get_model_info(f"models:/sugar/{version.version}")
    assert info.signature is not None
    assert [c.name for c in info.signature.inputs.inputs][:2] == ["age", "sex"]
    # no input example: mlflow would validate it by loading the model its own way
    assert info.saved_input_example_info is None
    artifacts = get_settings().artifacts_dir
    assert any(artifacts.rglob("model.skops"))
    assert not (Path.cwd() / "mlflow.db").exists()  # mlflow's default store was never used


@pytest.mark.slow
def test_sync_wrapper_works_inside_a_running_event_loop(trainer, iris):
    async def notebook_cell():
        # Jupyter runs cells inside an event loop: the sync wrapper must not call asyncio.run
        return trainer.train_model_sync("iris", iris, "species", params=FAST)

    result = asyncio.run(notebook_cell())
    assert result.task == "classification"
    assert "roc_auc" not in result.metrics  # three classes
    assert result.metrics["accuracy"] > 0.8


@pytest.mark.slow
def test_concurrent_trainings_register_distinct_versions(trainer, iris):
    async def both():
        return await asyncio.gather(
            trainer.train_model("iris", iris, "species", params=FAST),
            trainer.train_model("iris", iris.sample(frac=1, random_state=3), "species",
                                params=FAST),
        )

    results = asyncio.run(both())
    assert sorted(r.version for r in results) == [1, 2]
    assert sorted(r.alias for r in results) == ["challenger", "champion"]


@pytest.mark.slow
def test_retrain_uses_the_newest_batch_and_a_pluggable_policy(trainer, models_home, make_mixed):
    from hub_kernel.data.catalog import Catalog
    from hub_kernel.models import RetrainDecision, RetrainPolicy

    catalog = Catalog()
    first = models_home / "batch1.csv"
    make_mixed(90, seed=1).to_csv(first, index=False)
    record = catalog.ingest(first, name="customers").record
    trainer.train_model_sync("churn", catalog.load(record.id), "label", dataset_id=record.id,
                             params={"max_iter": 7})
    # from a frame: its table is recorded in the catalog, so it is retrained too
    trainer.train_model_sync("adhoc", make_mixed(60), "label", params=FAST)

    second = models_home / "batch2.csv"
    make_mixed(100, seed=2).to_csv(second, index=False)
    newest = catalog.ingest(second, name="customers").record

    class GatePromotes(RetrainPolicy):
        def should_retrain(self, context):
            if context.model.name == "adhoc":
                assert context.dataset.name == "adhoc.parquet"
                assert len(context.frame) == 60
                return RetrainDecision(True, "its recorded table")
            assert context.dataset.id == newest.id
            assert len(context.frame) == 100
            return RetrainDecision(True, "new batch")

        def after_retrain(self, result, context):
            context.registry.promote(result.name, result.version, reason="gate passed",
                                     override=True)
            return "promoted by the gate"

    outcomes = {o.name: o for o in trainer.retrain_models_sync(GatePromotes())}
    assert outcomes["adhoc"].status == "trained", outcomes["adhoc"].reason
    assert outcomes["adhoc"].result.version == 2
    churn = outcomes["churn"]
    assert churn.status == "trained", churn.reason
    assert churn.reason == "promoted by the gate"
    assert churn.result is not None and churn.result.version == 2
    assert churn.result.dataset_id == newest.id
    assert churn.result.n_rows == 100
    info = trainer.get_model_info_sync("churn")
    assert info.champion == 2 and info.champion_history == (1,)
    assert info.version(2).tags["hub.dataset_id"] == newest.id
    # the estimator's settings were carried over from the version retrained from
    from mlflow import MlflowClient

    from hub_kernel.core.config import get_settings

    uri = get_settings().tracking_uri
    run = MlflowClient(uri, uri).get_run(churn.result.run_id)
    assert run.data.params["estimator.max_iter"] == "7"
    assert run.data.tags["hub.trigger"] == "new batch"

    class Never(RetrainPolicy):
        def should_retrain(self, context):
            return RetrainDecision(False, "no drift")

    skipped = trainer.retrain_models_sync(Never(), names=["churn"])
    assert [(o.name, o.status, o.reason) for o in skipped] == [("churn", "skipped", "no drift")]


def test_the_trainer_is_a_scikit_learn_style_estimator():
    from sklearn.base import clone

    from hub_kernel.models import ModelTrainer

    trainer = ModelTrainer(cv=3, n_jobs=1)
    assert trainer.get_params() == {"cv": 3, "random_state": None, "n_jobs": 1,
                                    "tracking_uri": None, "searcher": None}
    assert trainer.set_params(cv=4) is trainer and trainer.cv == 4
    copy = clone(trainer)
    assert copy is not trainer and copy.get_params() == trainer.get_params()
    assert repr(trainer) == "ModelTrainer(cv=4, n_jobs=1)"
