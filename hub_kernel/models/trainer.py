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

With ``budget=S`` (seconds) the trainer searches first: the strategy search
(``hub_kernel.models.searching``; warm-started from similar datasets and from what won the
model's last search) tries preprocessing + estimator + hyperparameters within the budget, and
its winner (an ensemble of pipelines when that scored better) is what the run cross-validates
and registers, the leaderboard nested under the run (``models.training``). Without a budget
the trainer fits its fast default (histogram gradient boosting) or the ``estimator`` given.
Retraining a searched model searches again within the budget stored on it.

A model trained from an in-memory table has that table recorded in the data catalog (as the
dataset ``<model>.parquet``), so ``retrain_models`` can retrain it later.

The API is awaitable, as in a notebook cell::

    trainer = ModelTrainer()
    result = await trainer.train_model("churn", frame, "churned", budget=30)
    models = await trainer.list_models()
    info = await trainer.get_model_info("churn")
    outcomes = await trainer.retrain_models()
    await trainer.delete_model("churn")

The work runs in a thread, so the kernel stays responsive. Plain scripts call the ``*_sync``
twins (``train_model_sync``, ``list_models_sync``, ...), which also work inside a running loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from hub_kernel.exceptions import FairnessError, HubError, ModelError
from hub_kernel.models.records import ModelInfo, ModelSummary
from hub_kernel.models.registry import CHAMPION, ModelRegistry, check_name
from hub_kernel.models.training import TrainingRun, TrainResult, dataset_fingerprint

if TYPE_CHECKING:
    from hub_kernel.models.features import ModelType, Prepared, Task
    from hub_kernel.models.lifecycle.retrain import RetrainOutcome, RetrainPolicy
    from hub_kernel.models.searching import Searcher, SearchOutcome

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
    - ``tracking_uri``: MLflow store (default ``sqlite:///$HUB_HOME/mlflow.db``);
    - ``searcher``: the pipeline search a ``budget`` runs (a ``models.searching.Searcher``;
      default hub's strategy search).
    """

    def __init__(
        self,
        *,
        cv: int | None = None,
        random_state: int | None = None,
        n_jobs: int | None = None,
        tracking_uri: str | None = None,
        searcher: Searcher | None = None,
    ) -> None:
        self.cv = cv
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.tracking_uri = tracking_uri
        self.searcher = searcher

    def __repr__(self) -> str:
        params = self.get_params()
        shown = ", ".join(f"{k}={params[k]!r}" for k in ("cv", "random_state", "n_jobs",
                                                         "tracking_uri", "searcher")
                          if params[k] is not None)
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
        budget: float | None = None,
        searcher: Searcher | None = None,
        keep_columns: Sequence[str] = (),
        metric: str | None = None,
    ) -> TrainResult:
        """Cross-validate, fit, log and register a model; returns the new version's result.

        ``X`` is a DataFrame of raw rows; ``y`` the target (a Series or array, or the name of a
        column of ``X``). ``estimator`` (cloned, never modified) defaults to histogram gradient
        boosting; ``params`` are set on it. ``dataset_id`` (a catalog id or name) records where
        the data came from, so ``retrain_models`` can reload the dataset's newest batch. Bad
        input and any failure raise ``ModelError``; nothing is registered then.

        ``budget`` (seconds) searches pipelines first and registers the winner (see the module
        docstring); ``searcher`` replaces the trainer's for this call. A budget excludes an
        ``estimator``.

        ``sensitive`` names columns of ``X`` whose groups the model must treat evenly (see the
        module docstring); ``None`` uses those already declared on the model, if any. A version
        failing that check is registered but cannot be promoted, nor become the first champion.
        """
        return await asyncio.to_thread(
            self._train, model_name, X, y, model_type, estimator, params, dataset_id, tags,
            sensitive, budget, searcher, tuple(keep_columns), metric,
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
        budget: float | None = None,
        searcher: Searcher | None = None,
        keep_columns: Sequence[str] = (),
        metric: str | None = None,
    ) -> TrainResult:
        """``train_model`` for sync code (works inside a running event loop too)."""
        return run_sync(self.train_model(model_name, X, y, model_type=model_type,
                                         estimator=estimator, params=params,
                                         dataset_id=dataset_id, tags=tags,
                                         sensitive=sensitive, budget=budget,
                                         searcher=searcher, keep_columns=keep_columns,
                                         metric=metric))

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
        budget: float | None = None,
        searcher: Searcher | None = None,
        keep_columns: tuple[str, ...] = (),
        metric: str | None = None,
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
        budget = self._check_budget(budget, estimator)

        estimator = self._estimator(estimator, params)
        explicit = self._check_sensitive(sensitive)
        from hub_kernel.models.features import prepare_xy

        prepared = prepare_xy(X, y, model_type, estimator, folds)
        prepared, leaks = self._without_leaks(prepared, keep_columns)
        primary = self._primary_metric(prepared, metric)
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
        if estimator is None and budget is None:
            from hub_kernel.models.features import default_estimator

            estimator = default_estimator(prepared.task, seed)
            if params:
                estimator = self._set_params(estimator, params)
        if estimator is not None:
            self._check_estimator(estimator, prepared.task)
        fingerprint = dataset_fingerprint(prepared.X, pd.Series(prepared.y, name=prepared.target))

        registry = self.registry
        registry.ensure_trainable(model_name)  # opens the store: unreachable -> ModelError now
        try:
            registry.repair()
        except HubError as exc:
            logger.warning("could not repair stale runs: %s", exc)
        # where the rows came from; an in-memory table is recorded in the catalog first
        lineage = self._lineage(dataset_id) if dataset_id else self._record_frame(
            model_name, prepared)
        # declarations accumulate: the model's own stay in force whatever is passed now
        declared = list(dict.fromkeys([*registry.declared_sensitive(model_name),
                                       *(explicit or ())]))
        search = None
        if budget is not None:
            search = self._search_step(registry, model_name, prepared, budget, seed,
                                       searcher or self.searcher, primary)
        return TrainingRun(
            registry=registry, name=model_name, prepared=prepared, estimator=estimator,
            seed=seed, n_jobs=self.n_jobs, fingerprint=fingerprint, lineage=lineage,
            user_tags=dict(tags or {}), started=started, sensitive=tuple(declared),
            search=search, budget=budget, primary=primary, leaks=leaks,
        ).execute()

    # -- what is trained on, and how it is scored ---------------------------------------
    @staticmethod
    def _without_leaks(prepared: Prepared, keep: tuple[str, ...]) -> tuple[Prepared, Any]:
        """``prepared`` without the columns that give the target away or are identifiers
        (``models.leakage``; ``keep`` names ones kept on purpose), each named in its notes."""
        import dataclasses

        from hub_kernel.models.leakage import find_leaks, without_leaks

        target = pd.Series(prepared.y, index=prepared.X.index, name=prepared.target)
        report = find_leaks(prepared.X, target, prepared.task, keep=keep)
        if not report.leaks and not report.kept:
            return prepared, report
        return dataclasses.replace(prepared, plan=without_leaks(prepared.plan, report),
                                   notes=(*prepared.notes, *report.lines())), report

    @staticmethod
    def _primary_metric(prepared: Prepared, metric: str | None) -> str:
        """The scorer the version is judged by: ``metric`` (any scikit-learn scorer that
        suits the target), else the data's default (balanced accuracy for rare classes)."""
        from hub_kernel.models.metrics import check_metric, default_metric

        if metric is None:
            return default_metric(prepared.y, prepared.task)
        n_classes = (len(np.unique(prepared.y)) if prepared.task == "classification"
                     else None)
        return check_metric(metric, prepared.task, n_classes)

    # -- the search ----------------------------------------------------------------------
    def _search_step(self, registry: ModelRegistry, name: str, prepared: Prepared,
                     budget: float, seed: int, searcher: Searcher | None,
                     metric: str | None = None) -> Callable[[], SearchOutcome]:
        """The search the training run starts with: the rows it trains on, within
        ``budget``, starting from what won the model's last search."""
        from hub_kernel.models.searching import SearchRequest, default_searcher

        chosen = searcher if searcher is not None else default_searcher()
        request = SearchRequest(
            X=prepared.X[prepared.plan.features], y=prepared.y, task=prepared.task,
            target=prepared.target, budget=budget, name=name, seed=seed, n_jobs=self.n_jobs,
            tracking_uri=self.tracking_uri, start=self._last_start(registry, name),
            metric=metric)

        def search() -> SearchOutcome:
            outcome = chosen(request)
            if not (hasattr(outcome.estimator, "fit") and hasattr(outcome.estimator,
                                                                   "predict")):
                raise ModelError(f"the search returned {outcome.estimator!r}, not an "
                                 "estimator to train")
            return outcome

        return search

    @staticmethod
    def _last_start(registry: ModelRegistry, name: str) -> tuple[Mapping[str, Any], ...]:
        """What won the newest search of ``name`` (empty for a new or never searched model)."""
        import json

        from hub_kernel.models.searching import as_start

        try:
            info = registry.get_model_info(name)
        except HubError:
            return ()
        for version in reversed(info.versions):
            text = version.tags.get("hub.search_start")
            if text:
                try:
                    return as_start(json.loads(text))
                except ValueError:
                    logger.warning("%s v%s: unreadable hub.search_start", name, version.version)
        return ()

    @staticmethod
    def _check_budget(budget: float | None, estimator: Any) -> float | None:
        import math

        if budget is None:
            return None
        if estimator is not None:
            raise ModelError("give a search budget or an estimator, not both: the search "
                             "chooses the estimator")
        try:
            seconds = float(budget)
        except (TypeError, ValueError):
            raise ModelError(f"budget must be a number of seconds, not {budget!r}") from None
        if not math.isfinite(seconds) or seconds <= 0:
            raise ModelError(f"budget must be a positive number of seconds, not {budget!r}")
        return seconds

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

    @staticmethod
    def _record_frame(name: str, prepared: Prepared) -> dict[str, str]:
        """Store an in-memory training table (features and target) in the catalog as the
        dataset ``<name>.parquet``, so the model can be retrained; its lineage tags. A table
        the catalog cannot store is trained on anyway (a note says it cannot be retrained)."""
        import io

        from hub_kernel.data.catalog import Catalog

        frame = prepared.X.copy(deep=False)
        frame[prepared.target] = prepared.y
        try:
            buffer = io.BytesIO()
            frame.to_parquet(buffer, index=False)
            record = Catalog().ingest(buffer.getvalue(), name=f"{name}.parquet").record
        except Exception as exc:  # training goes on: only retraining needs the record
            logger.warning("the table %s trains on could not be stored in the catalog (%s); "
                           "retrain_models will skip it", name, exc)
            return {}
        return {"hub.dataset_id": record.id, "hub.dataset_name": record.name,
                "hub.dataset_source": "in-memory table"}

    # -- registry shortcuts (the product's API on the trainer) ----------------------------
    async def list_models(self, *, include_archived: bool = False) -> list[ModelSummary]:
        """Registered models: versions, champion, challenger and the champion's score."""
        return await asyncio.to_thread(self.list_models_sync, include_archived=include_archived)

    def list_models_sync(self, *, include_archived: bool = False) -> list[ModelSummary]:
        """``list_models`` for sync code."""
        return self.registry.list_models(include_archived=include_archived)

    async def get_model_info(self, name: str) -> ModelInfo:
        """All versions of ``name`` with run ids, metrics, aliases and dataset fingerprints."""
        return await asyncio.to_thread(self.get_model_info_sync, name)

    def get_model_info_sync(self, name: str) -> ModelInfo:
        """``get_model_info`` for sync code."""
        return self.registry.get_model_info(name)

    async def delete_model(self, name: str, *, permanent: bool = False) -> None:
        """Archive ``name`` (kept, hidden, never retrained); ``permanent=True`` deletes it."""
        await asyncio.to_thread(self.delete_model_sync, name, permanent=permanent)

    def delete_model_sync(self, name: str, *, permanent: bool = False) -> None:
        """``delete_model`` for sync code."""
        self.registry.delete_model(name, permanent=permanent)

    def load_model(self, name: str, alias: str = CHAMPION, *, version: int | None = None) -> Any:
        """The fitted pipeline of ``name`` (its champion by default)."""
        return self.registry.load_model(name, alias, version=version)

    # -- retraining ----------------------------------------------------------------------
    async def retrain_models(
        self, policy: RetrainPolicy | None = None, *, names: list[str] | None = None,
        budget: float | None = None,
    ) -> list[RetrainOutcome]:
        """Retrain each non-archived model (or ``names``) on the newest batch of its dataset.

        Each new version becomes the challenger; ``policy`` decides which models to retrain and
        what follows a training (e.g. an A/B gate that promotes). Default: retrain all. A model
        a search trained is searched again within its stored budget, starting from what won;
        ``budget`` searches the models that have no stored budget too.
        """
        from hub_kernel.models.lifecycle.retrain import retrain_all

        return await retrain_all(self, policy=policy, names=names, budget=budget)

    def retrain_models_sync(
        self, policy: RetrainPolicy | None = None, *, names: list[str] | None = None,
        budget: float | None = None,
    ) -> list[RetrainOutcome]:
        """``retrain_models`` for sync code."""
        return run_sync(self.retrain_models(policy, names=names, budget=budget))
