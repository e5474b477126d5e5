"""One training: cross-validate, fit, log to MLflow, register a new version (``TrainingRun``).

One training is one MLflow run in hub's experiment: parameters (estimator and preprocessing),
cross-validated metrics (mean and std of each), a dataset fingerprint and the data's lineage
(catalog id and name, target, features) as tags, a ``hub/training.json`` artifact, and the
fitted pipeline (``mlflow.sklearn.log_model``, a signature but no input example, which mlflow
would check by loading the model its own way). Only when all of that is stored is the model
registered, as a new version of the model; a failure marks the run FAILED and registers nothing.

With declared sensitive attributes the run also measures fairness across those columns on the
cross-validated (out-of-fold) predictions (``hub_kernel.models.fairness``): metrics
``fairness.*``, ``hub/fairness.json``, and the version tags ``hub.sensitive`` and
``hub.fairness_decision`` that gate its promotion. Every run also logs the permutation
importance of the columns on the folds' held-out rows (``hub_kernel.models.explain``).

With a search (``ModelTrainer.train_model(..., budget=S)``) the run first hands the rows to a
searcher (``models.searching``): the search's MLflow run, whose child runs are its evaluations
(the leaderboard), becomes a child of this run; the winner (a configuration's pipeline, or a
``Blend`` when an ensemble won) is what this run cross-validates, fits and registers; the
leaderboard is ``hub/leaderboard.json``; the choice is written to the audit log before the
version is registered; and the version carries the budget and the winner (``hub.search_*``
tags) so that retraining searches again within that budget, starting from that winner.

``TrainResult`` is what a training produced; ``ModelTrainer`` (``models.trainer``) checks the
input and starts the run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hub_kernel.exceptions import HubError, ModelError
from hub_kernel.models.tracking import process_marker

if TYPE_CHECKING:
    from hub_kernel.models.explain import PermutationImportance
    from hub_kernel.models.fairness import FairnessReport
    from hub_kernel.models.features import Prepared, Task
    from hub_kernel.models.registry import ModelRegistry
    from hub_kernel.models.searching import SearchOutcome

logger = logging.getLogger("hub_kernel")

#: the metric each task is judged by (both higher-is-better, so a drop is a decay)
PRIMARY_METRIC: dict[str, str] = {"classification": "f1_macro", "regression": "r2"}
#: whether a larger value of a metric is better
GREATER_IS_BETTER: dict[str, bool] = {
    "accuracy": True, "f1_macro": True, "roc_auc": True, "rmse": False, "mae": False, "r2": True,
}
_SCORERS: dict[str, dict[str, str]] = {
    "classification": {"accuracy": "accuracy", "f1_macro": "f1_macro"},
    "regression": {"rmse": "neg_root_mean_squared_error", "mae": "neg_mean_absolute_error",
                   "r2": "r2"},
}
_NEGATED = {"rmse", "mae"}
_PARAM_CHARS = 500
_EXAMPLE_ROWS = 5


@dataclass(frozen=True)
class TrainResult:
    """What one training produced: the registered version and its cross-validated metrics."""

    name: str
    version: int
    run_id: str
    task: Task
    metrics: dict[str, float]
    primary_metric: str
    alias: str  # "champion" (first version) or "challenger"
    model_uri: str  # models:/NAME/VERSION
    dataset_fingerprint: str
    dataset_id: str | None
    n_rows: int
    cv_folds: int
    features: tuple[str, ...]
    dropped: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    duration_seconds: float = 0.0
    sensitive: tuple[str, ...] = ()  # declared sensitive attributes (given or inherited)
    fairness: FairnessReport | None = None  # None: nothing declared, or the check failed to run
    importance: PermutationImportance | None = None
    search: SearchOutcome | None = None  # the search behind this version (budget given)
    budget: float | None = None  # the search's budget in seconds

    @property
    def fairness_decision(self) -> str | None:
        """``pass``/``fail`` of the fairness check; ``None`` when no attribute is declared."""
        if not self.sensitive:
            return None
        return self.fairness.decision if self.fairness is not None else "not checked"

    @property
    def score(self) -> float:
        """The mean cross-validated value of the primary metric."""
        return self.metrics[self.primary_metric]

    def summary(self) -> str:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self.metrics.items()
                          if not k.endswith("_std"))
        return f"{self.name} v{self.version} ({self.alias}, {self.task}): {shown}"


def dataset_fingerprint(X: pd.DataFrame, y: pd.Series | None = None) -> str:
    """A SHA-256 of the column names, dtypes and values of ``X`` (and ``y``), row order kept."""
    frame = X if y is None else X.assign(**{f"__target__{y.name}": y.to_numpy()})
    digest = hashlib.sha256()
    digest.update(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
    try:
        hashed = pd.util.hash_pandas_object(frame, index=False)
    except TypeError:  # unhashable cells (lists, dicts): hash their text
        hashed = pd.util.hash_pandas_object(frame.astype(str), index=False)
    digest.update(hashed.to_numpy().tobytes())
    return digest.hexdigest()


def _requirements() -> list[str]:
    pins = []
    for package in ("scikit-learn", "pandas", "numpy", "scipy", "skops"):
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            continue
    return pins


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= _PARAM_CHARS else text[: _PARAM_CHARS - 1] + "…"


class TrainingRun:
    """One training as one MLflow run: cross-validate, fit, log, register; FAILED on error."""

    def __init__(self, *, registry: ModelRegistry, name: str, prepared: Prepared,
                 estimator: Any, seed: int, n_jobs: int | None, fingerprint: str,
                 lineage: dict[str, str], user_tags: dict[str, str], started: float,
                 sensitive: tuple[str, ...] = (),
                 search: Callable[[], SearchOutcome] | None = None,
                 budget: float | None = None, primary: str | None = None,
                 leaks: Any = None) -> None:
        self.registry = registry
        self.store = registry.store
        self.client = registry.client
        self.name = name
        self.prepared = prepared
        self.estimator = estimator
        self.seed = seed
        self.n_jobs = n_jobs
        self.fingerprint = fingerprint
        self.lineage = lineage
        self.user_tags = user_tags
        self.started = started
        self.notes = list(prepared.notes)
        self.run_id = ""
        self.model_id: str | None = None
        self.sensitive = sensitive
        self.fairness: FairnessReport | None = None
        self.fairness_problem: tuple[str, str] | None = None  # (decision, why) without a report
        self.importance: PermutationImportance | None = None
        self.search = search
        self.budget = budget
        self.outcome: SearchOutcome | None = None
        #: the scorer the version is judged by (a scikit-learn name); the task's default
        self.primary = primary or PRIMARY_METRIC[prepared.task]
        self.leaks = leaks  # the leakage guard's LeakReport (None: not checked)

    def _tags(self) -> dict[str, str]:
        p = self.prepared
        features = json.dumps(p.plan.features)
        tags = {
            **{str(k): _text(v) for k, v in self.user_tags.items()},
            "hub.model_name": self.name,
            "hub.task": p.task,
            "hub.target": p.target,
            "hub.dataset_fingerprint": self.fingerprint,
            "hub.features": features if len(features) <= 4000 else "(see hub/training.json)",
            **self._leak_tags(),
            **self.lineage,
            **process_marker(),
        }
        return tags

    def _leak_tags(self) -> dict[str, str]:
        from hub_kernel.models.leakage import leak_tags

        return leak_tags(self.leaks) if self.leaks is not None else {}

    def _params(self) -> dict[str, str]:
        p = self.prepared
        estimator = self.estimator
        params = {
            "estimator": type(estimator).__name__,
            "task": p.task,
            "target": p.target,
            "cv_folds": str(p.folds),
            "cv_strategy": "StratifiedKFold" if p.task == "classification" else "KFold",
            "random_state": str(self.seed),
            "n_rows": str(len(p.X)),
            "n_features": str(len(p.plan.features)),
            "primary_metric": self.primary,
            **p.plan.summary(),
        }
        if self.leaks is not None and self.leaks.excluded:
            params["excluded_columns"] = ", ".join(self.leaks.excluded)
        try:
            for key, value in estimator.get_params(deep=False).items():
                params[f"estimator.{key}"] = _text(value)
        except Exception:  # a third-party estimator without sklearn's get_params
            logger.debug("estimator %r has no get_params", estimator)
        return {k: _text(v) for k, v in params.items()}

    def execute(self) -> TrainResult:
        from mlflow.entities import Param

        client = self.client
        try:
            run = client.create_run(self.store.experiment_id, run_name=f"{self.name}-train",
                                    tags=self._tags())
        except Exception as exc:
            raise ModelError(f"cannot start an MLflow run in {self.store.shown_uri}: "
                             f"{_first_line(exc)}") from exc
        self.run_id = run.info.run_id
        try:
            if self.search is not None:
                self._search()
            items = [Param(k, v) for k, v in self._params().items()]
            for i in range(0, len(items), 100):
                client.log_batch(self.run_id, params=items[i:i + 100])
            metrics, pipeline = self._fit()
            return self._store(metrics, pipeline)
        except BaseException as exc:
            self._fail(exc)
            if isinstance(exc, HubError) or not isinstance(exc, Exception):
                raise
            raise ModelError(f"training {self.name!r} failed: {_first_line(exc)}") from exc

    def _search(self) -> None:
        """Run the search; its winner becomes the estimator of this run."""
        from mlflow.entities import Metric, RunTag

        assert self.search is not None
        outcome = self.outcome = self.search()
        self.estimator = outcome.estimator
        client, now = self.client, int(time.time() * 1000)
        if outcome.parent_run_id:  # the search (and its leaderboard) nest under this run
            try:
                client.set_tag(outcome.parent_run_id, "mlflow.parentRunId", self.run_id)
            except Exception as exc:
                logger.warning("could not nest search run %s under %s: %s",
                               outcome.parent_run_id, self.run_id, exc)
        client.log_batch(self.run_id, metrics=[
            Metric(f"search.{k}", float(v), now, 0) for k, v in (
                ("score", outcome.score), ("baseline", outcome.baseline),
                ("seconds", outcome.seconds), ("n_evaluations", outcome.n_evaluations),
                ("budget_seconds", self.budget or 0.0)) if np.isfinite(float(v))],
            tags=[RunTag(k, v[:5000]) for k, v in self._search_tags().items()])
        client.log_dict(self.run_id, {
            "metric": outcome.metric, "winner": outcome.winner, "score": outcome.score,
            "baseline": outcome.baseline, "budget_seconds": self.budget,
            "seconds": outcome.seconds, "stop_reason": outcome.stop_reason,
            "warm_start": [list(pair) for pair in outcome.warm_start],
            "search_run_id": outcome.parent_run_id, "start": list(outcome.start),
            "leaderboard": [dict(row) for row in outcome.leaderboard],
        }, "hub/leaderboard.json")
        self.notes.extend(outcome.notes)
        self.notes.append(f"searched {self.budget:g} s: {outcome.explain()}")

    def _search_tags(self) -> dict[str, str]:
        """The search's tags on the run and the version: what won, within which budget."""
        outcome = self.outcome
        if outcome is None:
            return {}
        return {"hub.search_budget": repr(self.budget), "hub.search_winner": outcome.winner,
                "hub.search_metric": outcome.metric, "hub.search_score": repr(outcome.score),
                "hub.search_baseline": repr(outcome.baseline),
                "hub.search_run_id": outcome.parent_run_id or "",
                "hub.search_start": json.dumps(list(outcome.start), default=str)}

    def _audit_choice(self) -> None:
        """The search's choice in the audit log, before the version exists (raises when the
        log cannot be written: nothing is registered that was not audited)."""
        from hub_kernel.safety.audit import AuditLog

        outcome = self.outcome
        if outcome is None:
            return
        AuditLog().record(
            agent="strategy", action=f"register:{self.name}",
            explanation=f"registering the search's winner as the next version of "
                        f"{self.name}: {outcome.explain()}",
            expected_reward=outcome.score,
            observation={"model": self.name, "run_id": self.run_id,
                         "search_run_id": outcome.parent_run_id, "budget": self.budget,
                         "winner": outcome.winner,
                         "leaderboard": [{k: row.get(k) for k in ("rank", "configuration",
                                                                 "score", "std")}
                                         for row in outcome.leaderboard[:10]]})

    def _fail(self, exc: BaseException) -> None:
        status = "FAILED" if isinstance(exc, Exception) else "KILLED"
        try:
            if self.model_id is not None:
                from mlflow.entities import LoggedModelStatus

                self.client.finalize_logged_model(self.model_id, LoggedModelStatus.FAILED)
            self.client.set_tag(self.run_id, "hub.error", _first_line(exc)[:5000])
            self.client.set_terminated(self.run_id, status=status)
        except Exception:
            logger.exception("could not mark run %s %s", self.run_id, status)
        logger.warning("training %s failed (run %s marked %s): %s", self.name, self.run_id,
                       status, _first_line(exc))

    def _fit(self) -> tuple[dict[str, float], Any]:
        from sklearn.base import clone
        from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
        from threadpoolctl import threadpool_limits

        from hub_kernel.models.features import build_pipeline

        p = self.prepared
        # a whole pipeline (e.g. the strategy search's winner) brings its own preprocessing
        pipeline = (clone(self.estimator) if is_whole_pipeline(self.estimator)
                    else build_pipeline(p.plan, self.estimator))
        scoring = dict(_SCORERS[p.task])
        if p.task == "classification" and len(np.unique(p.y)) == 2:
            scoring["roc_auc"] = "roc_auc"
        scoring.setdefault(self.primary, self.primary)  # a scorer named by the user
        splitter = (StratifiedKFold(p.folds, shuffle=True, random_state=self.seed)
                    if p.task == "classification"
                    else KFold(p.folds, shuffle=True, random_state=self.seed))
        X = p.X[p.plan.features]
        # OpenMP (histogram gradient boosting) spins its threads: on a busy machine two of them
        # run ten times slower than one. Use as many as n_jobs allows (one by default).
        threads = max(1, self.n_jobs or 1) if (self.n_jobs or 1) > 0 else None
        with threadpool_limits(limits=threads, user_api="openmp"):
            scores = cross_validate(pipeline, X, p.y, cv=splitter, scoring=scoring,
                                    n_jobs=self.n_jobs, error_score="raise",
                                    return_estimator=True, return_indices=True)
            pipeline.fit(X, p.y)
            folds = list(zip(scores["estimator"], scores["indices"]["test"], strict=True))
            self._assess(X, folds)
        metrics: dict[str, float] = {}
        for metric in scoring:
            values = np.asarray(scores[f"test_{metric}"], dtype="float64")
            if metric in _NEGATED:
                values = -values
            metrics[metric] = float(np.mean(values))
            metrics[f"{metric}_std"] = float(np.std(values))
        metrics["fit_seconds"] = float(np.mean(scores["fit_time"]))
        metrics["baseline"] = self._baseline(X, splitter)
        return metrics, pipeline

    def _baseline(self, X: pd.DataFrame, splitter: Any) -> float:
        """The trivial model's cross-validated primary metric on the same folds (the most
        common class, or the mean): the score a version must beat to be worth anything."""
        from sklearn.dummy import DummyClassifier, DummyRegressor
        from sklearn.model_selection import cross_val_score

        p = self.prepared
        dummy = (DummyClassifier(strategy="most_frequent") if p.task == "classification"
                 else DummyRegressor())
        try:
            values = cross_val_score(dummy, X, p.y, cv=splitter, error_score="raise",
                                     scoring=_SCORERS[p.task].get(self.primary, self.primary))
        except Exception as exc:  # a scorer that needs scores the dummy has (rarely)
            logger.warning("no baseline score in %s: %s", self.primary, exc)
            return float("nan")
        value = float(np.mean(values))
        return -value if self.primary in _NEGATED else value

    def _assess(self, X: pd.DataFrame, folds: list[tuple[Any, Any]]) -> None:
        """Fairness (when declared) and permutation importance, on the folds' held-out rows.
        Neither fails the training: a problem becomes a note (and blocks promotion when the
        fairness check could not run)."""
        from hub_kernel.core.config import get_settings

        p = self.prepared
        settings = get_settings()
        if self.sensitive:
            missing = [c for c in self.sensitive if c not in p.X.columns]
            if missing:
                why = f"declared sensitive column(s) {', '.join(missing)} not in the data"
                self.fairness_problem = ("not checked", why)
                self.notes.append(f"fairness not checked: {why}; this version cannot be "
                                  "promoted without an override")
            else:
                self._fairness(X, folds)
        else:
            from hub_kernel.models.fairness import sensitive_candidates

            candidates = sensitive_candidates(p.X)
            if candidates:
                self.notes.append(
                    f"possible sensitive columns: {', '.join(candidates)} — declare them with "
                    "--sensitive (sensitive=[...] in Python) to gate promotion on fairness")
        if settings.importance_repeats > 0:
            try:
                self.importance = self._importance(X, folds, settings.importance_repeats,
                                                   settings.importance_max_rows)
            except Exception as exc:
                logger.warning("no permutation importance for %s: %s", self.name, exc)
                self.notes.append(f"no permutation importance: {_first_line(exc)}")

    def _fairness(self, X: pd.DataFrame, folds: list[tuple[Any, Any]]) -> None:
        from hub_kernel.models.fairness import fairness_report_from_predictions

        p = self.prepared
        try:
            predicted = np.empty(len(X), dtype="float64" if p.task == "regression"
                                 else p.y.dtype)
            for fitted, rows in folds:
                predicted[rows] = fitted.predict(X.iloc[rows])
            self.fairness = fairness_report_from_predictions(
                p.y, predicted, p.X[list(self.sensitive)], task=p.task)
        except Exception as exc:
            logger.warning("fairness check of %s failed: %s", self.name, exc)
            self.fairness_problem = ("error", _first_line(exc))
            self.notes.append(f"fairness check failed to run ({_first_line(exc)}); this version"
                              " cannot be promoted without an override")
            return
        logger.info("fairness of %s (cross-validated predictions): %s: %s", self.name,
                    self.fairness.decision, self.fairness.explanation)

    def _importance(self, X: pd.DataFrame, folds: list[tuple[Any, Any]], repeats: int,
                    max_rows: int) -> PermutationImportance:
        from sklearn.inspection import permutation_importance

        from hub_kernel.models.explain import from_importances, scoring_name

        rng = np.random.default_rng(self.seed)
        per_fold = max(2, max_rows // max(1, len(folds)))
        drops, n_rows = [], 0
        for fitted, rows in folds:
            if len(rows) > per_fold:
                rows = np.sort(rng.choice(rows, size=per_fold, replace=False))
            found = permutation_importance(fitted, X.iloc[rows], self.prepared.y[rows],
                                           n_repeats=repeats, random_state=self.seed)
            drops.append(found.importances)
            n_rows += len(rows)
        return from_importances(list(X.columns), np.hstack(drops),
                                scoring=scoring_name(self.estimator, None), n_rows=n_rows)

    def _signature(self, pipeline: Any) -> tuple[Any, Any]:
        from mlflow.models import infer_signature

        example = self.prepared.X[self.prepared.plan.features].head(_EXAMPLE_ROWS)
        try:
            return infer_signature(example, pipeline.predict(example)), example
        except Exception as exc:
            self.notes.append(f"no model signature: {_first_line(exc)}")
            return None, None

    def _artifact_sha(self, model_id: str) -> str:
        """SHA-256 of the ``model.skops`` just logged (recorded on the version)."""
        import tempfile

        import mlflow.artifacts

        from hub_kernel.models.artifact import ARTIFACT_FILE, sha256_of

        location = self.client.get_logged_model(model_id).artifact_location.rstrip("/")
        with tempfile.TemporaryDirectory(prefix="hub-model-") as folder:
            path = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{location}/{ARTIFACT_FILE}", dst_path=folder)
            return sha256_of(path)

    def _store(self, metrics: dict[str, float], pipeline: Any) -> TrainResult:
        import mlflow.sklearn
        import skops.io
        from mlflow.entities import LoggedModelStatus, Metric

        from hub_kernel import __version__
        from hub_kernel.models.artifact import (
            ALLOWED_TYPES,
            FORMAT,
            FORMAT_TAG,
            SHA_TAG,
            check_pipeline,
        )

        client, p = self.client, self.prepared
        now = int(time.time() * 1000)
        client.log_batch(self.run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()
                                               if math.isfinite(v)])
        if self.fairness is not None:
            from hub_kernel.models.fairness_log import log_fairness

            log_fairness(self.fairness, run_id=self.run_id, registry=self.registry)
        if self.importance is not None:
            from hub_kernel.models.explain import log_permutation_importance

            log_permutation_importance(self.importance, self.run_id, client=client)
        signature, _example = self._signature(pipeline)
        client.log_dict(self.run_id, {
            "model_name": self.name, "task": p.task, "target": p.target,
            "features": p.plan.features, "numeric": list(p.plan.numeric),
            "categorical": list(p.plan.categorical), "datetime": list(p.plan.datetime),
            "dropped": p.plan.dropped, "notes": self.notes, "n_rows": len(p.X),
            "cv_folds": p.folds, "dataset_fingerprint": self.fingerprint, **{
                k.removeprefix("hub."): v for k, v in self.lineage.items()},
            "metrics": metrics, "hub_version": __version__,
            **({"search": {"budget_seconds": self.budget, "winner": self.outcome.winner,
                           "start": list(self.outcome.start)}} if self.outcome else {}),
        }, "hub/training.json")
        # skops only, and only types hub loads back (``models.artifact``): refused here, before
        # anything is logged, rather than registered and then refused at every load
        check_pipeline(pipeline, self.name)
        trusted = sorted(set(skops.io.get_untrusted_types(data=skops.io.dumps(pipeline)))
                         & ALLOWED_TYPES)
        with self.store.fluent(), warnings.catch_warnings():
            # mlflow compares an input example's columns with a range (deprecated in pandas 3)
            warnings.filterwarnings("ignore", message="Operation with range is deprecated")
            logged = client.create_logged_model(self.store.experiment_id, name="model",
                                                source_run_id=self.run_id)
            self.model_id = logged.model_id
            mlflow.sklearn.log_model(
                pipeline, name="model", signature=signature, input_example=None,
                pip_requirements=_requirements(), serialization_format="skops",
                skops_trusted_types=trusted,
                metadata={"hub_version": __version__, "task": p.task, "target": p.target},
                model_id=logged.model_id, run_id=self.run_id,
            )
            sha = self._artifact_sha(logged.model_id)
        client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
        primary = self.primary
        version_tags = {  # the caller's tags too: the model tile finds its model by them
            **{str(k): _text(v) for k, v in self.user_tags.items()},
            "hub.task": p.task, "hub.target": p.target, "hub.primary_metric": primary,
            "hub.primary_value": repr(metrics[primary]),
            "hub.dataset_fingerprint": self.fingerprint, **self.lineage,
            **self._search_tags(), **self._leak_tags(),
            SHA_TAG: sha, FORMAT_TAG: FORMAT,  # checked at every load (``models.artifact``)
        }
        self._audit_choice()
        if self.sensitive:  # set with the version: never a moment without its fairness status
            from hub_kernel.models.fairness_log import fairness_tags

            decision, why = self.fairness_problem or (None, None)
            version_tags |= fairness_tags(self.fairness, self.run_id, sensitive=self.sensitive,
                                          decision=decision, explanation=why)
        number, alias = self.registry.register_version(
            self.name, source=f"models:/{logged.model_id}", run_id=self.run_id,
            model_id=logged.model_id, tags=version_tags,
        )
        if self.sensitive:
            try:
                self.registry.declare_sensitive(self.name, self.sensitive)
            except Exception:  # the version carries the declaration anyway
                logger.exception("could not record the sensitive attributes on %s", self.name)
            if self.fairness_problem or (self.fairness is not None
                                         and not self.fairness.passed):
                self.notes.append(f"version {number} is the {alias} and cannot be promoted "
                                  "until its fairness check passes (or a person overrides)")
        try:
            client.set_tag(self.run_id, "hub.version", str(number))
            client.set_terminated(self.run_id, status="FINISHED")
        except Exception:  # the version is registered and complete; the run closes on repair
            logger.exception("run %s of %s v%s could not be closed", self.run_id, self.name,
                             number)
        logger.info("trained %s v%s (%s): %s=%.4g", self.name, number, alias, primary,
                    metrics[primary])
        return TrainResult(
            name=self.name, version=number, run_id=self.run_id, task=p.task,
            metrics=metrics, primary_metric=primary, alias=alias,
            model_uri=f"models:/{self.name}/{number}", dataset_fingerprint=self.fingerprint,
            dataset_id=self.lineage.get("hub.dataset_id"), n_rows=len(p.X), cv_folds=p.folds,
            features=tuple(p.plan.features), dropped=dict(p.plan.dropped),
            notes=tuple(self.notes), duration_seconds=time.monotonic() - self.started,
            sensitive=self.sensitive, fairness=self.fairness, importance=self.importance,
            search=self.outcome, budget=self.budget,
        )


def is_whole_pipeline(estimator: Any) -> bool:
    """Whether ``estimator`` brings its own preprocessing (a pipeline whose first step is
    ``preprocess``, or a ``Blend`` of such pipelines): trained as it is, not wrapped."""
    from hub_kernel.models.blend import Blend

    if isinstance(estimator, Blend):
        return True
    steps = getattr(estimator, "steps", None)
    return bool(steps and steps[0][0] == "preprocess")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
