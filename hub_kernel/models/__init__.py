"""Models: training with cross-validation, MLflow tracking and registry, retraining.

Importing this package is light: mlflow and scikit-learn load when a model is trained, listed
or loaded. The public names are imported on first use.

    from hub_kernel.models import ModelTrainer

    trainer = ModelTrainer(cv=5)
    result = await trainer.train_model("rain", frame, "weather")   # in a notebook
    searched = await trainer.train_model("rain", frame, "weather", budget=30)  # search first
    models = await trainer.list_models()          # trainer.list_models_sync() in a script
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub_kernel.models.blend import Blend
    from hub_kernel.models.leakage import LeakReport, find_leaks, prepare_features
    from hub_kernel.models.lifecycle.retrain import (
        AlwaysRetrain,
        RetrainContext,
        RetrainDecision,
        RetrainOutcome,
        RetrainPolicy,
    )
    from hub_kernel.models.metrics import default_metric
    from hub_kernel.models.records import ModelInfo, ModelSummary, VersionInfo
    from hub_kernel.models.registry import ModelRegistry
    from hub_kernel.models.searching import Searcher, SearchOutcome, SearchRequest
    from hub_kernel.models.tracking import TrackingStore
    from hub_kernel.models.trainer import ModelTrainer
    from hub_kernel.models.training import (
        GREATER_IS_BETTER,
        PRIMARY_METRIC,
        TrainResult,
        dataset_fingerprint,
    )

_EXPORTS = {
    "ModelTrainer": "trainer",
    "TrainResult": "training",
    "PRIMARY_METRIC": "training",
    "GREATER_IS_BETTER": "training",
    "dataset_fingerprint": "training",
    "ModelRegistry": "registry",
    "Blend": "blend",
    "Searcher": "searching",
    "SearchOutcome": "searching",
    "SearchRequest": "searching",
    "ModelSummary": "records",
    "ModelInfo": "records",
    "VersionInfo": "records",
    "TrackingStore": "tracking",
    "RetrainPolicy": "lifecycle.retrain",
    "AlwaysRetrain": "lifecycle.retrain",
    "RetrainContext": "lifecycle.retrain",
    "RetrainDecision": "lifecycle.retrain",
    "RetrainOutcome": "lifecycle.retrain",
    "find_leaks": "leakage",
    "prepare_features": "leakage",
    "LeakReport": "leakage",
    "default_metric": "metrics",
}

__all__ = [
    "GREATER_IS_BETTER",
    "PRIMARY_METRIC",
    "AlwaysRetrain",
    "Blend",
    "LeakReport",
    "ModelInfo",
    "ModelRegistry",
    "ModelSummary",
    "ModelTrainer",
    "RetrainContext",
    "RetrainDecision",
    "RetrainOutcome",
    "RetrainPolicy",
    "SearchOutcome",
    "SearchRequest",
    "Searcher",
    "TrackingStore",
    "TrainResult",
    "VersionInfo",
    "dataset_fingerprint",
    "default_metric",
    "find_leaks",
    "prepare_features",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"hub_kernel.models.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
