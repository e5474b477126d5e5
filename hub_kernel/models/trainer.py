"""``ModelTrainer``: cross-validated training logged to MLflow and registered as a new version.

The trainer checks its input (the model name, the estimator and its task, the sensitive
columns), prepares the rows (``models.features.prepare_xy``) and hands them to one
``TrainingRun`` (``models.training``: the cross-validation, its MLflow run and the
registration). A failure marks the run FAILED and registers nothing.

With ``sensitive=["sex", ...]`` the run also measures fairness across those columns on the
cross-validated (out-of-fold) predictions (``hub_kernel.models.fairness``): metrics
``fairness.*``, ``hub/fairness.json``, and the version tags ``hub.sensitive`` and
``hub.fairness_decision`` that gate its promotion. The sensitive columns stay features (the
model may use them; fairness is measured on its predictions either way): drop them from ``X``
before training, keeping them for the check, if the model must not see them. Declarations are
kept on the model, so later trainings (and retrainings) of it are checked on them too.
Every run also logs the permutation importance of the columns on the folds' held-out rows
(``hub_kernel.models.explain``).

In a notebook: ``result = await trainer.train_model("churn", X, y)`` (the work runs in a
thread, so the kernel stays responsive), or ``trainer.train_model_sync(...)`` anywhere.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd
from sklearn.base import BaseEstimator

from hub_kernel.exceptions import FairnessError, HubError, ModelError
from hub_kernel.models.records import ModelInfo, ModelSummary
from hub_kernel.models.registry import CHAMPION, ModelRegistry, check_name
from hub_kernel.models.training import TrainingRun, TrainResult, dataset_fingerprint

if TYPE_CHECKING:
    from hub_kernel.models.features import ModelType, Task
    from hub_kernel.models.lifecycle.retrain import RetrainOutcome, RetrainPolicy

logger = logging.getLogger("hub_kernel")

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from sync code, also where a loop already runs (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hub-models") as pool:
        return pool.submit(asyncio.run, coro).result()


class ModelTrainer(BaseEstimator):
    """Train, track and register scikit-learn models (a scikit-learn ``BaseEstimator``:
    keyword parameters stored unchanged, ``get_params``/``set_params``; ``None`` means the
    setting in force at training time).

    - ``cv``: cross-validation folds (default ``HUB_CV_FOLDS``);
    - ``random_state``: seed of the folds and the default estimators (``HUB_RANDOM_STATE``);
    - ``n_jobs``: parallel folds (scikit-learn's meaning; default one);
    - ``tracking_uri``: MLflow store (default ``sqlite:///$HUB_HOME/mlflow.db``).
    """

    def __init__(
        self,
        *,
        cv: int | None = None,
        random_state: int | None = None,
        n_jobs: int | None = None,
        tracking_uri: str | None = None,
    ) -> None:
        self.cv = cv
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.tracking_uri = tracking_uri

    def __repr__(self) -> str:
        params = self.get_params()
        shown = ", ".join(f"{k}={params[k]!r}" for k in ("cv", "random_state", "n_jobs",
                                                         "tracking_uri") if params[k] is not None)
        return f"ModelTrainer({shown})"

    @property
    def registry(self) -> ModelRegistry:
        """The registry on this trainer's store (a new view each time: settings may change)."""
        return ModelRegistry(tracking_uri=self.tracking_uri)

    # -- training ------------------------------------------------------------------------
    async def train_model(
        self,
        model_name: str,
        X: Any,
        y: Any,
        model_type: ModelType = "auto",
        estimator: Any = None,
        params: Mapping[str, Any] | None = None,
        dataset_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        sensitive: Sequence[str] | None = None,
    ) -> TrainResult:
        """Cross-validate, fit, log and register a model; returns the new version's result.

        ``X`` is a DataFrame of raw rows; ``y`` the target (a Series or array, or the name of a
        column of ``X``). ``estimator`` (cloned, never modified) defaults to histogram gradient
        boosting; ``params`` are set on it. ``dataset_id`` (a catalog id or name) records where
        the data came from, so ``retrain_models`` can reload the dataset's newest batch. Bad
        input and any failure raise ``ModelError``; nothing is registered then.

        ``sensitive`` names columns of ``X`` whose groups the model must treat evenly (see the
        module docstring); ``None`` uses those already declared on the model, if any. A version
        failing that check is registered but cannot be promoted, nor become the first champion.
        """
        return await asyncio.to_thread(
            self._train, model_name, X, y, model_type, estimator, params, dataset_id, tags,
            sensitive,
        )

    def train_model_sync(
        self,
        model_name: str,
        X: Any,
        y: Any,
        model_type: ModelType = "auto",
        estimator: Any = None,
        params: Mapping[str, Any] | None = None,
        dataset_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        sensitive: Sequence[str] | None = None,
    ) -> TrainResult:
        """``train_model`` for sync code (works inside a running event loop too)."""
        return run_sync(self.train_model(model_name, X, y, model_type=model_type,
                                         estimator=estimator, params=params,
                                         dataset_id=dataset_id, tags=tags,
                                         sensitive=sensitive))

    def _train(
        self,
        model_name: str,
        X: Any,
        y: Any,
        model_type: ModelType,
        estimator: Any,
        params: Mapping[str, Any] | None,
        dataset_id: str | None,
        tags: Mapping[str, str] | None,
        sensitive: Sequence[str] | None = None,
    ) -> TrainResult:
        from hub_kernel.core.config import get_settings

        started = time.monotonic()
        settings = get_settings()
        check_name(model_name)
        folds = self.cv if self.cv is not None else settings.cv_folds
        seed = self.random_state if self.random_state is not None else settings.random_state
        if model_type not in ("auto", "classification", "regression"):
            raise ModelError(
                f"unknown model_type {model_type!r}: use 'auto', 'classification' or 'regression'"
            )
        if not isinstance(folds, int) or folds < 2:
            raise ModelError(f"cv must be an integer of at least 2 folds, not {folds!r}")

        estimator = self._estimator(estimator, params)
        explicit = self._check_sensitive(sensitive)
        from hub_kernel.models.features import prepare_xy

        prepared = prepare_xy(X, y, model_type, estimator, folds)
        absent = [c for c in explicit or () if c not in prepared.X.columns]
        if absent:
            from hub_kernel.models.fairness import sensitive_candidates

            target = [c for c in absent if c == prepared.target]
            if target:
                raise FairnessError(f"the target {target[0]!r} cannot be a sensitive attribute: "
                                    "name the columns describing who a row is about")
            candidates = sensitive_candidates(prepared.X)
            raise FairnessError(
                f"sensitive column(s) {', '.join(map(repr, absent))} not in X"
                + (f"; possible sensitive columns: {', '.join(candidates)}" if candidates
                   else ""))
        if estimator is None:
            from hub_kernel.models.features import default_estimator

            estimator = default_estimator(prepared.task, seed)
            if params:
                estimator = self._set_params(estimator, params)
        self._check_estimator(estimator, prepared.task)
        lineage = self._lineage(dataset_id)
        fingerprint = dataset_fingerprint(prepared.X, pd.Series(prepared.y, name=prepared.target))

        registry = self.registry
        registry.ensure_trainable(model_name)  # opens the store: unreachable -> ModelError now
        try:
            registry.repair()
        except HubError as exc:
            logger.warning("could not repair stale runs: %s", exc)
        # declarations accumulate: the model's own stay in force whatever is passed now
        declared = list(dict.fromkeys([*registry.declared_sensitive(model_name),
                                       *(explicit or ())]))
        return TrainingRun(
            registry=registry, name=model_name, prepared=prepared, estimator=estimator,
            seed=seed, n_jobs=self.n_jobs, fingerprint=fingerprint, lineage=lineage,
            user_tags=dict(tags or {}), started=started, sensitive=tuple(declared),
        ).execute()

    # -- input checks --------------------------------------------------------------------
    @staticmethod
    def _check_sensitive(sensitive: Sequence[str] | None) -> list[str] | None:
        if sensitive is None:
            return None
        if isinstance(sensitive, str):
            raise FairnessError(f"sensitive must be a list of column names, not the text "
                                f"{sensitive!r}: pass [{sensitive!r}]")
        return list(dict.fromkeys(str(c) for c in sensitive))

    @staticmethod
    def _set_params(estimator: Any, params: Mapping[str, Any]) -> Any:
        try:
            return estimator.set_params(**params)
        except (ValueError, TypeError) as exc:
            raise ModelError(f"invalid estimator params {dict(params)!r}: {exc}") from None

    def _estimator(self, estimator: Any, params: Mapping[str, Any] | None) -> Any:
        if estimator is None:
            return None
        from sklearn.base import clone

        if not (hasattr(estimator, "fit") and hasattr(estimator, "predict")):
            raise ModelError(
                f"estimator {estimator!r} is not a scikit-learn estimator (needs fit and predict)"
            )
        try:
            estimator = clone(estimator)
        except Exception as exc:
            raise ModelError(f"estimator {estimator!r} cannot be cloned: {exc}") from None
        return self._set_params(estimator, params) if params else estimator

    @staticmethod
    def _check_estimator(estimator: Any, task: Task) -> None:
        from sklearn.base import is_classifier, is_regressor

        if task == "classification" and is_regressor(estimator):
            raise ModelError(f"{type(estimator).__name__} is a regressor but the task is "
                             "classification")
        if task == "regression" and is_classifier(estimator):
            raise ModelError(f"{type(estimator).__name__} is a classifier but the task is "
                             "regression")

    @staticmethod
    def _lineage(dataset_id: str | None) -> dict[str, str]:
        if not dataset_id:
            return {}
        from hub_kernel.data.catalog import Catalog
        from hub_kernel.exceptions import CatalogError

        try:
            record = Catalog().get(dataset_id)
        except CatalogError:
            logger.warning("dataset %s is not in the catalog; recorded as given", dataset_id)
            return {"hub.dataset_id": dataset_id}
        return {"hub.dataset_id": record.id, "hub.dataset_name": record.name}

    # -- registry shortcuts (the product's API on the trainer) ----------------------------
    def list_models(self, *, include_archived: bool = False) -> list[ModelSummary]:
        """Registered models: versions, champion, challenger and the champion's score."""
        return self.registry.list_models(include_archived=include_archived)

    def get_model_info(self, name: str) -> ModelInfo:
        """All versions of ``name`` with run ids, metrics, aliases and dataset fingerprints."""
        return self.registry.get_model_info(name)

    def delete_model(self, name: str, *, permanent: bool = False) -> None:
        """Archive ``name`` (kept, hidden, never retrained); ``permanent=True`` deletes it."""
        self.registry.delete_model(name, permanent=permanent)

    def load_model(self, name: str, alias: str = CHAMPION, *, version: int | None = None) -> Any:
        """The fitted pipeline of ``name`` (its champion by default)."""
        return self.registry.load_model(name, alias, version=version)

    # -- retraining ----------------------------------------------------------------------
    async def retrain_models(
        self, policy: RetrainPolicy | None = None, *, names: list[str] | None = None
    ) -> list[RetrainOutcome]:
        """Retrain each non-archived model (or ``names``) on the newest batch of its dataset.

        Each new version becomes the challenger; ``policy`` decides which models to retrain and
        what follows a training (e.g. an A/B gate that promotes). Default: retrain all.
        """
        from hub_kernel.models.lifecycle.retrain import retrain_all

        return await retrain_all(self, policy=policy, names=names)

    def retrain_models_sync(
        self, policy: RetrainPolicy | None = None, *, names: list[str] | None = None
    ) -> list[RetrainOutcome]:
        """``retrain_models`` for sync code."""
        return run_sync(self.retrain_models(policy, names=names))
