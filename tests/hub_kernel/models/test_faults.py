"""Bad input and faults: each is one ``ModelError``; the registry is never left half-written."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from hub_kernel.exceptions import ModelError, RegistryStateError

FAST = {"max_iter": 10}


def _client():
    from mlflow import MlflowClient

    from hub_kernel.core.config import get_settings

    uri = get_settings().tracking_uri
    return MlflowClient(uri, uri)


def _runs(status=None):
    from hub_kernel.models.tracking import TrackingStore

    store = TrackingStore.from_settings().open()
    runs = store.client.search_runs([store.experiment_id])
    return [r for r in runs if status is None or r.info.status == status]


class Exploding(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        raise RuntimeError("out of memory (simulated)")

    def predict(self, X):
        return np.zeros(len(X))


@pytest.mark.parametrize(
    ("frame", "kwargs", "message"),
    [
        (pd.DataFrame({"x": range(30), "y": ["a"] * 30}), {}, "single class"),
        (pd.DataFrame({"x": range(30), "y": ["a", "b", "c"] * 10}),
         {"model_type": "regression"}, "holds text"),
        (pd.DataFrame({"x": [1.0, 2.0], "y": [0.5, 1.5]}), {}, "fewer than the 3"),
        (pd.DataFrame({"x": range(30), "y": ["a"] * 15 + ["b"] * 14 + ["c"]}), {},
         "single row"),
        (pd.DataFrame({"x": [np.nan] * 30, "y": ["a", "b"] * 15}), {},
         "no usable feature columns"),
        (pd.DataFrame({"x": range(30), "y": [np.nan] * 30}), {}, "has no values"),
        (pd.DataFrame({"x": range(30)}), {}, "no column 'y'"),
        (pd.DataFrame({"x": range(30), "y": ["a", "b"] * 15}), {"model_type": "ranking"},
         "unknown model_type"),
    ],
    ids=["single-class", "text-regression", "rows<folds", "one-row-class", "all-nan-only",
         "empty-target", "no-target-column", "bad-type"],
)
def test_bad_input_is_one_model_error_and_stores_nothing(trainer, frame, kwargs, message):
    with pytest.raises(ModelError, match=message):
        trainer.train_model_sync("bad", frame, "y", **kwargs)
    assert trainer.list_models_sync(include_archived=True) == []


def test_invalid_names_and_params_are_refused(trainer, mixed):
    with pytest.raises(ModelError, match="invalid model name"):
        trainer.train_model_sync("no spaces/allowed", mixed, "label")
    with pytest.raises(ModelError, match="invalid model name"):  # "$" alone would pass it
        trainer.train_model_sync("alice\n", mixed, "label")
    with pytest.raises(ModelError, match="invalid estimator params"):
        trainer.train_model_sync("ok", mixed, "label", params={"no_such_param": 1})
    with pytest.raises(ModelError, match="not a scikit-learn estimator"):
        trainer.train_model_sync("ok", mixed, "label", estimator=object())


def test_all_nan_feature_is_dropped_with_a_note_and_rare_classes_reduce_folds(trainer):
    frame = pd.DataFrame({
        "x": np.random.default_rng(0).normal(size=40), "gone": np.nan,
        "y": ["a"] * 19 + ["b"] * 19 + ["c"] * 2,
    })
    result = trainer.train_model_sync("nan", frame, "y", params=FAST)
    assert result.dropped == {"gone": "all values missing"}
    assert result.cv_folds == 2
    assert any("reduced from 3 to 2 folds" in n for n in result.notes)
    model = trainer.load_model("nan")
    assert len(model.predict(frame.head(2))) == 2


def test_a_failing_fit_marks_the_run_failed_and_registers_nothing(trainer, mixed):
    with pytest.raises(ModelError, match="out of memory"):
        trainer.train_model_sync("boom", mixed, "label", estimator=Exploding())
    [run] = _runs()
    assert run.info.status == "FAILED"
    assert "out of memory" in run.data.tags["hub.error"]
    assert trainer.list_models_sync(include_archived=True) == []


def test_a_failing_model_upload_registers_nothing(trainer, mixed, monkeypatch):
    import mlflow.sklearn

    def broken(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(mlflow.sklearn, "log_model", broken)
    with pytest.raises(ModelError, match="disk full"):
        trainer.train_model_sync("upload", mixed, "label", params=FAST)
    assert [r.info.status for r in _runs()] == ["FAILED"]
    assert trainer.list_models_sync(include_archived=True) == []


@pytest.mark.slow
def test_a_failure_after_the_version_is_created_removes_it(trainer, mixed, monkeypatch):
    from mlflow import MlflowClient

    first = trainer.train_model_sync("half", mixed, "label", params=FAST)

    def broken(self, *args, **kwargs):
        raise ConnectionError("store went away (simulated)")

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", broken)
    with pytest.raises(ModelError, match="store went away"):
        trainer.train_model_sync("half", mixed, "label", params=FAST)
    monkeypatch.undo()
    info = trainer.get_model_info_sync("half")
    assert [v.version for v in info.versions] == [first.version]
    assert info.champion == first.version
    assert sorted(r.info.status for r in _runs()) == ["FAILED", "FINISHED"]


def test_registry_refusals_are_errors(trainer, mixed):
    with pytest.raises(ModelError, match="no model named"):
        trainer.registry.promote("ghost", 1)
    trainer.train_model_sync("solo", mixed, "label", params=FAST)
    with pytest.raises(RegistryStateError, match="no earlier champion"):
        trainer.registry.rollback("solo")
    with pytest.raises(RegistryStateError, match="no challenger"):
        trainer.load_model("solo", "challenger")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("where", ["http", "missing-folder", "under-a-file"])
def test_an_unopenable_tracking_store_is_a_quick_model_error(tmp_path, mixed, where):
    from hub_kernel.models import ModelRegistry, ModelTrainer

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    uri = {
        "http": f"http://127.0.0.1:{_closed_port()}",
        "missing-folder": f"sqlite:///{tmp_path}/no/such/dir/mlflow.db",
        "under-a-file": f"sqlite:///{blocker}/mlflow.db",
    }[where]
    with pytest.raises(ModelError, match=r"unreachable|cannot be opened"):
        ModelTrainer(cv=3, tracking_uri=uri).train_model_sync("m", mixed, "label",
                                                              params=FAST)
    with pytest.raises(ModelError):
        ModelRegistry(tracking_uri=uri).list_models()
    assert not (tmp_path / "no").exists()


_KILLED_TRAINING = textwrap.dedent("""
    import sys, time
    from pathlib import Path

    import numpy as np
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.tree import DecisionTreeClassifier

    from hub_kernel.models import ModelTrainer
    from hub_kernel.models.registry import ModelRegistry
    from hub_kernel.data import load_dataset

    marker, stage = Path(sys.argv[1]), sys.argv[2]

    def stop_here():
        marker.write_text(stage)
        time.sleep(120)  # killed here

    class Slow(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            stop_here()

        def predict(self, X):
            return np.zeros(len(X))

    estimator = DecisionTreeClassifier(max_depth=3, random_state=0)
    if stage == "fit":
        estimator = Slow()
    elif stage == "register":  # artifacts logged, version not yet created
        original = ModelRegistry.register_version
        def register_version(self, *args, **kwargs):
            stop_here()
        ModelRegistry.register_version = register_version
    elif stage == "alias":  # version created, aliases not yet set
        def alias(self, name, number):
            stop_here()
        ModelRegistry._alias_new_version = alias
    frame = load_dataset()
    ModelTrainer(cv=2).train_model_sync("weather", frame, "weather", estimator=estimator)
""")


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["fit", "register", "alias"])
def test_a_training_killed_midway_leaves_the_registry_consistent(
    trainer, models_home, tmp_path, stage
):
    from hub_kernel.data import load_dataset

    frame = load_dataset()
    first = trainer.train_model_sync("weather", frame, "weather", params=FAST)
    marker = tmp_path / "reached"
    env = {**os.environ, "HUB_HOME": str(models_home)}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_TRAINING, str(marker), stage],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while not marker.exists():
            if proc.poll() is not None:
                pytest.fail(f"the training ended early: {proc.stdout.read().decode()[-2000:]}")
            assert time.monotonic() < deadline, "the training never reached the kill point"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # readers work, and every registered version is complete and loadable
    [summary] = trainer.list_models_sync()
    assert summary.champion == first.version
    info = trainer.get_model_info_sync("weather")
    for version in info.versions:
        assert version.status == "READY"
        model = trainer.load_model("weather", version=version.version)
        assert len(model.predict(frame.head(2))) == 2
    expected = [1, 2] if stage == "alias" else [1]
    assert [v.version for v in info.versions] == expected

    # the dead process's run is RUNNING until repaired, then KILLED
    [dangling] = _runs("RUNNING")
    assert trainer.registry.repair() == [dangling.info.run_id]
    assert _client().get_run(dangling.info.run_id).info.status == "KILLED"
    assert trainer.registry.repair() == []

    # and training goes on
    after = trainer.train_model_sync("weather", frame, "weather", params=FAST)
    assert after.version == expected[-1] + 1 and after.alias == "challenger"


def test_repair_leaves_live_and_foreign_runs_alone(trainer, mixed):
    from hub_kernel.models.tracking import TrackingStore, process_marker

    store = TrackingStore.from_settings().open()
    mine = store.client.create_run(store.experiment_id, tags=process_marker())
    foreign = store.client.create_run(store.experiment_id, tags={"hub.pid": "1",
                                                                 "hub.host": "elsewhere"})
    untagged = store.client.create_run(store.experiment_id)
    assert trainer.registry.repair() == []
    for run in (mine, foreign, untagged):
        assert _client().get_run(run.info.run_id).info.status == "RUNNING"


def test_repair_fails_the_half_uploaded_model_of_a_dead_run(trainer):
    from mlflow.entities import LoggedModelStatus

    from hub_kernel.models.tracking import TrackingStore, process_marker

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store = TrackingStore.from_settings().open()
    tags = {**process_marker(), "hub.pid": str(dead.pid), "hub.pid_started": ""}
    run = store.client.create_run(store.experiment_id, tags=tags)
    model = store.client.create_logged_model(store.experiment_id, name="model",
                                             source_run_id=run.info.run_id)
    assert trainer.registry.repair() == [run.info.run_id]
    assert _client().get_run(run.info.run_id).info.status == "KILLED"
    assert store.client.get_logged_model(model.model_id).status == LoggedModelStatus.FAILED
