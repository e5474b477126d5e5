"""Retraining registered models on the newest batch of their dataset, under a pluggable policy.

``retrain_all`` walks the non-archived models; for each it finds the dataset recorded at
training time (catalog name, else id), loads its newest batch, asks the policy whether to
retrain (``should_retrain``), trains a new version (it becomes the challenger) with the same
target, features, task and estimator settings (a version the strategy search chose is searched
again within its stored budget, starting from what won), then hands the result to the policy
(``after_retrain``: where a drift/decay trigger or an A/B gate that calls
``ModelRegistry.promote`` plugs in). One model's failure is reported, never raised.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import pandas as pd

from hub_kernel.exceptions import HubError, ModelError

if TYPE_CHECKING:
    from hub_kernel.data.catalog import DatasetRecord
    from hub_kernel.models.features import ModelType
    from hub_kernel.models.records import ModelSummary, VersionInfo
    from hub_kernel.models.registry import ModelRegistry
    from hub_kernel.models.training import TrainResult

logger = logging.getLogger("hub_kernel")


@dataclass(frozen=True)
class RetrainContext:
    """What a policy sees about one model before retraining it."""

    model: ModelSummary
    base: VersionInfo  # the version retrained from (champion, else the latest)
    dataset: DatasetRecord  # the newest batch of its dataset
    frame: pd.DataFrame  # that batch's rows
    registry: ModelRegistry
    holdout: pd.DataFrame | None = None  # rows kept out of the retrain (for an A/B gate)


@dataclass(frozen=True)
class RetrainDecision:
    retrain: bool
    reason: str


@dataclass(frozen=True)
class RetrainOutcome:
    """What happened to one model: trained (with its result), skipped or failed, and why."""

    name: str
    status: Literal["trained", "skipped", "failed"]
    reason: str
    result: TrainResult | None = None


class Trainer(Protocol):
    """What retraining needs of a trainer (``models.trainer.ModelTrainer`` is one): its registry
    and ``train_model``. A Protocol, so the trainer can call ``retrain_all`` with itself while
    this module never imports the trainer."""

    @property
    def registry(self) -> ModelRegistry: ...

    async def train_model(
        self, model_name: str, X: Any, y: Any, model_type: ModelType = "auto",
        estimator: Any = None, params: Any = None, dataset_id: str | None = None,
        tags: Any = None, sensitive: Any = None, budget: float | None = None,
    ) -> TrainResult: ...


class RetrainPolicy:
    """Decides which models to retrain and what follows; subclass and override either hook."""

    def should_retrain(self, context: RetrainContext) -> RetrainDecision:
        return RetrainDecision(True, "scheduled retrain")

    def after_retrain(self, result: TrainResult, context: RetrainContext) -> str | None:
        """Called with each new version (the challenger); may promote it. Returns a note."""
        return None

    def split(self, context: RetrainContext) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """Rows to retrain on, and rows to hold out of training (default: all, none)."""
        return context.frame, None


class AlwaysRetrain(RetrainPolicy):
    """Retrain every model; promote nothing (the default)."""


def _training_record(registry: ModelRegistry, run_id: str | None) -> dict[str, Any]:
    if not run_id:
        return {}
    try:
        with tempfile.TemporaryDirectory(prefix="hub-retrain-") as tmp:
            path = registry.client.download_artifacts(run_id, "hub/training.json", tmp)
            return dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except Exception as exc:
        logger.warning("run %s has no readable hub/training.json: %s", run_id, exc)
        return {}


def _base_estimator(registry: ModelRegistry, name: str, version: int) -> Any:
    from sklearn.base import clone

    from hub_kernel.models.blend import Blend

    try:
        pipeline = registry.load_model(name, version=version)
        if isinstance(pipeline, Blend):  # pipelines with their own preprocessing: kept whole
            return clone(pipeline)
        return clone(pipeline.named_steps["model"])
    except Exception as exc:  # fall back to the default estimator of the task
        logger.warning("estimator of %s v%s not reusable (%s); using the default", name,
                       version, exc)
        return None


def _search_budget(base: VersionInfo) -> float | None:
    """The search budget of a version the strategy search chose (None: it was not searched)."""
    text = base.tags.get("hub.search_budget")
    try:
        budget = float(text) if text else None
    except ValueError:
        logger.warning("v%s has an unreadable hub.search_budget %r", base.version, text)
        return None
    return budget if budget is not None and budget > 0 else None


async def _retrain_one(trainer: Trainer, policy: RetrainPolicy, summary: ModelSummary,
                       default_budget: float | None = None) -> RetrainOutcome:
    from hub_kernel.data.catalog import Catalog

    name = summary.name
    registry = trainer.registry
    info = registry.get_model_info(name)
    if not info.versions:
        return RetrainOutcome(name, "skipped", "no versions")
    base = info.version(info.champion) if info.champion is not None else info.versions[-1]
    record = _training_record(registry, base.run_id)
    dataset_key = base.dataset_name or base.dataset_id
    if not dataset_key:
        return RetrainOutcome(name, "skipped", "no dataset recorded (trained from an "
                              "in-memory table the catalog could not store)")
    catalog = Catalog()
    if not any(dataset_key in (r.name, r.id) for r in catalog.datasets()):
        # a shared registry (HUB_MLFLOW_URI) holds models trained where other data lives
        return RetrainOutcome(name, "skipped", f"its dataset {dataset_key!r} is not in this "
                              "catalog (trained elsewhere?); retrain it where the data is, "
                              "or `hub ingest` the data here")
    dataset = catalog.get(dataset_key)
    frame = catalog.load(dataset.id)
    context = RetrainContext(model=summary, base=base, dataset=dataset, frame=frame,
                             registry=registry)
    decision = policy.should_retrain(context)
    if not decision.retrain:
        return RetrainOutcome(name, "skipped", decision.reason)
    target = base.target or record.get("target")
    if not target or target not in frame.columns:
        raise ModelError(f"target {target!r} is not in the newest batch {dataset.id} of "
                         f"{dataset.name!r}")
    train_rows, holdout = policy.split(context)
    context = replace(context, holdout=holdout)
    frame = train_rows
    features = [c for c in record.get("features", []) if c in frame.columns]
    missing = [c for c in record.get("features", []) if c not in frame.columns]
    if missing:
        logger.warning("retraining %s without columns missing from %s: %s", name, dataset.id,
                       missing)
    if not features:
        features = [c for c in frame.columns if c != target]
    budget = _search_budget(base) or default_budget
    result = await trainer.train_model(
        name, frame[features], frame[target],
        model_type=base.task if base.task in ("classification", "regression") else "auto",  # type: ignore[arg-type]
        estimator=None if budget else _base_estimator(registry, name, base.version),
        dataset_id=dataset.id, budget=budget,
        tags={"hub.trigger": decision.reason[:500], "hub.retrained_from": str(base.version)},
    )
    note = policy.after_retrain(result, context)
    return RetrainOutcome(name, "trained", note or decision.reason, result)


async def retrain_all(
    trainer: Trainer, *, policy: RetrainPolicy | None = None,
    names: list[str] | None = None, budget: float | None = None,
) -> list[RetrainOutcome]:
    """Retrain the non-archived models (or ``names``); see the module docstring. ``budget``
    searches the models without a stored search budget too."""
    policy = policy or AlwaysRetrain()
    registry = trainer.registry
    try:
        registry.repair()
    except HubError as exc:
        logger.warning("could not repair stale runs: %s", exc)
    models = registry.list_models()
    if names is not None:
        known = {m.name for m in models}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ModelError(f"no (non-archived) model named {', '.join(map(repr, unknown))}")
        models = [m for m in models if m.name in names]
    outcomes = []
    for summary in models:
        try:
            outcome = await _retrain_one(trainer, policy, summary, budget)
        except HubError as exc:
            outcome = RetrainOutcome(summary.name, "failed", str(exc))
        except Exception as exc:  # a policy hook or a store fault: report, go on
            logger.exception("retraining %s failed", summary.name)
            outcome = RetrainOutcome(summary.name, "failed", f"{type(exc).__name__}: {exc}")
        logger.info("retrain %s: %s (%s)", summary.name, outcome.status, outcome.reason)
        outcomes.append(outcome)
    return outcomes
