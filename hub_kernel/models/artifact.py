"""How a registered model is stored and loaded: skops only, hub's own allowlist of types, and
the SHA-256 of the file recorded when the version was registered.

``mlflow.sklearn.load_model`` trusts the artifact's own ``MLmodel`` file: edit it to say
``cloudpickle`` and the ``model.pkl`` beside it runs, in the A/B gate, the monitor, a retrain or
``hub models ab``. hub never loads a model that way. Every load goes through
``load_registered`` (``ModelRegistry.load_model`` calls it), which, for version V of model M:

1. reads the version's tag ``hub.artifact_sha256`` (set at registration; a version without it
   was registered by an older hub: ``hub models migrate M`` records it after the checks below);
2. downloads ``MLmodel`` and ``model.skops`` of the version to a private temporary folder and
   refuses a flavour that is not ``serialization_format: skops`` with ``model.skops`` (a pickle
   format is never opened, whatever the file says);
3. refuses a ``model.skops`` whose SHA-256 is not the recorded one;
4. refuses a file naming any type outside ``ALLOWED_TYPES`` (the types hub's pipelines are made
   of, read from the file's ``schema.json`` before anything is built);
5. only then builds it with ``skops.io.load(path, trusted=...)`` (skops's own audit again).

Each refusal is a ``ModelError`` naming the model, the version and the problem; nothing of the
file runs. ``check_pipeline`` applies the same allowlist when a pipeline is about to be logged,
so hub never registers a version it would refuse to load.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub_kernel.exceptions import ModelError

if TYPE_CHECKING:
    from hub_kernel.models.tracking import TrackingStore

logger = logging.getLogger("hub_kernel")

#: the file of the pipeline inside a version's artifacts (mlflow.sklearn's skops layout)
ARTIFACT_FILE = "model.skops"
#: version tag: SHA-256 (hex) of ``ARTIFACT_FILE``, recorded at registration
SHA_TAG = "hub.artifact_sha256"
#: version tag: the format hub stored the version in
FORMAT_TAG = "hub.artifact_format"
FORMAT = "skops"
_RETRAIN = ("retrain it (`hub models retrain {name} DATASET`) or train and register it again "
            "(`hub train`)")

# What hub's pipelines are made of, and nothing else: measured with
# ``skops.io.get_untrusted_types`` and the file's schema on pipelines hub builds (the trainer's
# preprocessing, every family of the search for both tasks with each scaler and feature
# selection, the default estimator, a ``Blend``), then reviewed one by one.
_CONTAINERS = (
    "builtins.bool", "builtins.bytes", "builtins.dict", "builtins.float", "builtins.int",
    "builtins.list", "builtins.NoneType", "builtins.slice", "builtins.str", "builtins.tuple",
    "builtins.type",
)
_NUMPY = (
    "numpy.dtype", "numpy.float64", "numpy.int64", "numpy.ndarray", "numpy.uint64",
    "numpy.random._generator.Generator",
)
_SKLEARN = (
    "sklearn._loss._loss.CyHalfBinomialLoss", "sklearn._loss._loss.CyHalfMultinomialLoss",
    "sklearn._loss._loss.CyHalfSquaredError", "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.Interval", "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit", "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfMultinomialLoss", "sklearn._loss.loss.HalfSquaredError",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.compose._target.TransformedTargetRegressor",
    "sklearn.dummy.DummyClassifier", "sklearn.dummy.DummyRegressor",
    "sklearn.ensemble._forest.ExtraTreesClassifier",
    "sklearn.ensemble._forest.ExtraTreesRegressor",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.feature_selection._univariate_selection.SelectPercentile",
    "sklearn.feature_selection._univariate_selection.f_classif",
    "sklearn.feature_selection._univariate_selection.f_regression",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.linear_model._ridge.Ridge",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.metrics._dist_metrics.ManhattanDistance64",
    "sklearn.metrics._dist_metrics.MinkowskiDistance64",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.neighbors._classification.KNeighborsClassifier",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._regression.KNeighborsRegressor",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.QuantileTransformer",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._encoders.OrdinalEncoder",
    "sklearn.preprocessing._label.LabelEncoder",
    "sklearn.svm._classes.SVC", "sklearn.svm._classes.SVR",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.tree._classes.ExtraTreeClassifier", "sklearn.tree._classes.ExtraTreeRegressor",
    "sklearn.tree._tree.Tree",
)
_HUB = (
    "hub_kernel.models.blend.Blend",
    "hub_kernel.models.features.AsFloat",
    "hub_kernel.models.features.AsText",
    "hub_kernel.models.features.DatetimeParts",
    # versions registered before the transformers moved to models.features (models.pipeline)
    "hub_kernel.models.pipeline.AsFloat",
    "hub_kernel.models.pipeline.AsText",
    "hub_kernel.models.pipeline.DatetimeParts",
)
#: every type a stored model may contain (full ``module.name``); any other is refused
ALLOWED_TYPES: frozenset[str] = frozenset(_CONTAINERS + _NUMPY + _SKLEARN + _HUB)


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _schema_types(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("__module__"), str) and isinstance(node.get("__class__"), str):
            yield f"{node['__module__']}.{node['__class__']}"
        for value in node.values():
            yield from _schema_types(value)
    elif isinstance(node, list):
        for value in node:
            yield from _schema_types(value)


def types_in(data: bytes | Path) -> set[str]:
    """Every type a skops file names (its ``schema.json``), without building anything."""
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    with zipfile.ZipFile(source) as archive:
        schema = json.loads(archive.read("schema.json"))
    return set(_schema_types(schema))


def refused_types(data: bytes | Path) -> list[str]:
    """The types of a skops file that hub does not load (empty: all allowed)."""
    import skops.io

    found = types_in(data)
    kwargs: dict[str, Any] = ({"data": data} if isinstance(data, bytes)
                              else {"file": str(data)})
    found |= set(skops.io.get_untrusted_types(**kwargs))  # skops's own view, for good measure
    return sorted(found - ALLOWED_TYPES)


def check_pipeline(pipeline: Any, name: str) -> None:
    """``ModelError`` if ``pipeline`` contains a type hub would refuse to load (checked before
    anything is logged, so no version is registered that cannot be loaded)."""
    import skops.io

    refused = refused_types(skops.io.dumps(pipeline))
    if refused:
        raise ModelError(
            f"model {name!r} cannot be registered: its pipeline contains types hub does not load "
            f"({', '.join(refused)}); use scikit-learn estimators of the kinds the search uses "
            "(hub_kernel.models.artifact.ALLOWED_TYPES)")


def _flavour(mlmodel: Path, what: str) -> None:
    import yaml

    try:
        spec = yaml.safe_load(mlmodel.read_text(encoding="utf-8")) or {}
        sklearn = (spec.get("flavors") or {}).get("sklearn") or {}
    except (OSError, ValueError, AttributeError, yaml.YAMLError) as exc:
        raise ModelError(f"{what}: its MLmodel file cannot be read ({exc}); nothing was "
                         "loaded") from None
    fmt, data = sklearn.get("serialization_format"), sklearn.get("pickled_model")
    if fmt != FORMAT or data != ARTIFACT_FILE:
        raise ModelError(
            f"{what}: its MLmodel file says serialization_format={fmt!r}, file {data!r}; hub "
            f"loads models only in the skops format ({ARTIFACT_FILE}), never a pickle; the "
            "artifact was changed after registration or not stored by hub. Nothing was loaded")


def load_file(folder: Path, *, expected_sha: str, name: str, version: int) -> Any:
    """The pipeline of ``version`` of ``name`` in ``folder`` (``MLmodel`` and
    ``model.skops``), after the checks of the module docstring."""
    import skops.io

    what = f"model {name!r} version {version}"
    _flavour(folder / "MLmodel", what)
    path = folder / ARTIFACT_FILE
    if not path.is_file():
        raise ModelError(f"{what}: {ARTIFACT_FILE} is missing from its artifacts")
    actual = sha256_of(path)
    if actual != expected_sha:
        raise ModelError(
            f"{what}: {ARTIFACT_FILE} does not match the SHA-256 recorded at registration "
            f"(recorded {expected_sha[:16]}…, found {actual[:16]}…); the file was changed on "
            f"disk. Nothing was loaded; restore it from a backup or {_RETRAIN.format(name=name)}")
    refused = refused_types(path)
    if refused:
        raise ModelError(f"{what}: {ARTIFACT_FILE} contains types hub does not load "
                         f"({', '.join(refused)}); nothing was loaded")
    try:
        return skops.io.load(path, trusted=sorted(ALLOWED_TYPES))
    except Exception as exc:
        raise ModelError(f"{what}: {ARTIFACT_FILE} cannot be loaded ({type(exc).__name__}: "
                         f"{exc})") from exc


def _download(store: TrackingStore, name: str, version: int, target: Path) -> Path:
    import mlflow.artifacts

    with store.fluent():
        root = store.client.get_model_version_download_uri(name, str(version)).rstrip("/")
        for item in ("MLmodel", ARTIFACT_FILE):
            try:
                mlflow.artifacts.download_artifacts(artifact_uri=f"{root}/{item}",
                                                    dst_path=str(target))
            except Exception as exc:
                raise ModelError(f"model {name!r} version {version}: its {item} cannot be "
                                 f"read ({type(exc).__name__}: {exc})") from None
    return target


def load_registered(store: TrackingStore, name: str, version: int) -> Any:
    """The pipeline of ``version`` of ``name``, loaded safely (module docstring)."""
    what = f"model {name!r} version {version}"
    tags = dict(store.client.get_model_version(name, str(version)).tags or {})
    expected = tags.get(SHA_TAG)
    if not expected:
        raise ModelError(
            f"{what} was registered by an older hub, without the SHA-256 of its file: it is "
            f"not loaded. Run `hub models migrate {name}` (checks the file is skops with only "
            f"allowed types and records its hash), or {_RETRAIN.format(name=name)}")
    with tempfile.TemporaryDirectory(prefix="hub-model-") as folder:
        return load_file(_download(store, name, version, Path(folder)), expected_sha=expected,
                         name=name, version=version)


def record(store: TrackingStore, name: str, version: int, sha: str) -> None:
    store.client.set_model_version_tag(name, str(version), SHA_TAG, sha)
    store.client.set_model_version_tag(name, str(version), FORMAT_TAG, FORMAT)


def migrate_version(store: TrackingStore, name: str, version: int) -> str:
    """Record the SHA-256 of a version registered by an older hub, after checking that it is
    skops (never a pickle), holds only allowed types and builds. Returns what was done."""
    tags = dict(store.client.get_model_version(name, str(version)).tags or {})
    if tags.get(SHA_TAG):
        return "already has its hash"
    with tempfile.TemporaryDirectory(prefix="hub-model-") as folder:
        path = _download(store, name, version, Path(folder))
        sha = sha256_of(path / ARTIFACT_FILE) if (path / ARTIFACT_FILE).is_file() else ""
        load_file(path, expected_sha=sha, name=name, version=version)  # else refused
    record(store, name, version, sha)
    return f"checked and recorded SHA-256 {sha[:16]}…"


__all__ = ["ALLOWED_TYPES", "ARTIFACT_FILE", "SHA_TAG", "check_pipeline", "load_file",
           "load_registered", "migrate_version", "record", "refused_types", "sha256_of",
           "types_in"]
