"""Registered models load only as skops files with hub's allowlist of types and the SHA-256
recorded at registration: an artifact edited on disk is refused, and nothing in it runs."""

from __future__ import annotations

import pickle
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from hub_kernel.exceptions import ModelError

FAST = {"max_iter": 10}


def _folder(registry, name: str, version: int) -> Path:
    uri = registry.client.get_model_version_download_uri(name, str(version))
    return Path(unquote(urlsplit(uri).path))


@pytest.fixture
def trained(trainer, mixed):
    result = trainer.train_model_sync("churn", mixed, "label", params=FAST)
    return trainer, result


class _WritesMarker:
    """Unpickling this writes a file: what a planted model.pkl would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def test_train_register_load_predict_with_raw_rows(trained, mixed):
    from hub_kernel.models.artifact import SHA_TAG, sha256_of

    trainer, result = trained
    tags = trainer.registry.client.get_model_version("churn", str(result.version)).tags
    assert tags[SHA_TAG] == sha256_of(_folder(trainer.registry, "churn", 1) / "model.skops")
    model = trainer.load_model("churn")
    raw = mixed.drop(columns=["label"]).head(10)  # raw rows: text dates, ids, gaps
    assert len(model.predict(raw)) == 10
    assert set(model.predict(raw)) <= {"yes", "no"}


def test_a_changed_model_file_is_refused(trained):
    trainer, _ = trained
    path = _folder(trainer.registry, "churn", 1) / "model.skops"
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ModelError) as info:
        trainer.load_model("churn")
    message = str(info.value)
    assert "'churn' version 1" in message and "SHA-256" in message
    assert "Nothing was loaded" in message


def test_mlmodel_switched_to_cloudpickle_is_refused_and_nothing_runs(trained, tmp_path):
    import mlflow.sklearn

    trainer, _ = trained
    folder = _folder(trainer.registry, "churn", 1)
    marker = tmp_path / "marker"
    (folder / "model.pkl").write_bytes(pickle.dumps(_WritesMarker(marker)))
    mlmodel = folder / "MLmodel"
    text = mlmodel.read_text()
    assert "serialization_format: skops" in text and "pickled_model: model.skops" in text
    mlmodel.write_text(text.replace("serialization_format: skops",
                                    "serialization_format: cloudpickle")
                       .replace("pickled_model: model.skops", "pickled_model: model.pkl"))

    for load in (lambda: trainer.load_model("churn"),
                 lambda: trainer.registry.load_model("churn", version=1)):
        with pytest.raises(ModelError, match=r"'churn' version 1.*cloudpickle.*never a pickle"):
            load()
    assert not marker.exists()

    # and mlflow's own loader is switched off in a process that opened hub's store
    with pytest.raises(Exception, match="MLFLOW_ALLOW_PICKLE_DESERIALIZATION"):
        mlflow.sklearn.load_model(folder.as_uri())
    assert not marker.exists()


def test_a_model_file_with_a_type_outside_the_allowlist_is_refused(trained):
    import skops.io
    from sklearn.gaussian_process import GaussianProcessRegressor

    from hub_kernel.models.artifact import SHA_TAG, sha256_of

    trainer, _ = trained
    path = _folder(trainer.registry, "churn", 1) / "model.skops"
    skops.io.dump(GaussianProcessRegressor(), path)
    # even with the recorded hash forged to match, the type check refuses it
    trainer.registry.client.set_model_version_tag("churn", "1", SHA_TAG, sha256_of(path))
    with pytest.raises(ModelError, match=r"'churn' version 1.*types hub does not load.*"
                                         r"GaussianProcessRegressor"):
        trainer.load_model("churn")


def test_a_pipeline_with_a_type_outside_the_allowlist_is_never_registered(trainer, mixed):
    from sklearn.gaussian_process import GaussianProcessClassifier

    with pytest.raises(ModelError, match="types hub does not load"):
        trainer.train_model_sync("gp", mixed, "label", estimator=GaussianProcessClassifier())
    assert not [m for m in trainer.registry.list_models(include_archived=True)
                if m.name == "gp"]


def test_a_version_registered_without_a_hash_is_refused_until_migrated(trained, mixed):
    from hub_kernel.models.artifact import SHA_TAG

    trainer, _ = trained
    client = trainer.registry.client
    client.delete_model_version_tag("churn", "1", SHA_TAG)  # as an older hub registered it
    with pytest.raises(ModelError, match=r"older hub.*hub models migrate churn"):
        trainer.load_model("churn")

    done = trainer.registry.migrate("churn")
    assert "recorded SHA-256" in done[1]
    assert len(trainer.load_model("churn").predict(mixed.drop(columns=["label"]).head(3))) == 3
    assert trainer.registry.migrate("churn")[1] == "already has its hash"


def test_migrate_refuses_a_pickled_version(trained, tmp_path):
    from hub_kernel.models.artifact import SHA_TAG

    trainer, _ = trained
    trainer.registry.client.delete_model_version_tag("churn", "1", SHA_TAG)
    folder = _folder(trainer.registry, "churn", 1)
    marker = tmp_path / "marker"
    (folder / "model.pkl").write_bytes(pickle.dumps(_WritesMarker(marker)))
    mlmodel = folder / "MLmodel"
    mlmodel.write_text(mlmodel.read_text().replace("serialization_format: skops",
                                                   "serialization_format: pickle"))
    done = trainer.registry.migrate("churn")
    assert done[1].startswith("refused:") and "never a pickle" in done[1]
    assert SHA_TAG not in trainer.registry.client.get_model_version("churn", "1").tags
    assert not marker.exists()


def test_the_allowlist_covers_what_hub_builds_and_no_more():
    """Every family of the search for both tasks, the default estimator and a Blend, saved
    with skops, name only allowed types; a stranger type is refused."""
    import numpy as np
    import pandas as pd
    import skops.io

    from hub_kernel.automl.pipelines import config_pipeline
    from hub_kernel.automl.space import FAMILIES, Config
    from hub_kernel.models.artifact import refused_types
    from hub_kernel.models.blend import Blend
    from hub_kernel.models.features import build_pipeline, default_estimator, plan_features

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=80), "c": rng.choice(["a", "b", "c"], 80),
                          "when": pd.date_range("2024-01-01", periods=80).astype(str)})
    plan = plan_features(frame)
    targets = {"classification": rng.choice(["p", "q", "r"], 80),
               "regression": rng.normal(size=80)}
    for task, y in targets.items():
        pipelines = [build_pipeline(plan, default_estimator(task, 0))]  # type: ignore[arg-type]
        for name, family in FAMILIES.items():
            params = family.defaults(task, 3)
            pipelines.append(config_pipeline(
                Config(name, {**params, "prep.scaler": "quantile", "prep.select": 40}), plan,
                task, n_rows=80))
        pipelines.append(Blend([("a", pipelines[1]), ("b", pipelines[2])], task=task))
        for pipeline in pipelines:
            pipeline.fit(frame, y)
            assert refused_types(skops.io.dumps(pipeline)) == [], pipeline
    from sklearn.gaussian_process import GaussianProcessRegressor

    refused = refused_types(skops.io.dumps(GaussianProcessRegressor()))
    assert any(t.endswith("GaussianProcessRegressor") for t in refused)


def test_hub_models_migrate_records_the_hash(trained):
    from typer.testing import CliRunner

    from hub_kernel.cli.root import app
    from hub_kernel.models.artifact import SHA_TAG

    trainer, _ = trained
    trainer.registry.client.delete_model_version_tag("churn", "1", SHA_TAG)
    result = CliRunner().invoke(app, ["models", "migrate", "churn"])
    assert result.exit_code == 0, result.output
    assert "churn v1: checked and recorded SHA-256" in result.output
    assert SHA_TAG in trainer.registry.client.get_model_version("churn", "1").tags
