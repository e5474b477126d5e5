"""The run loop of a pipeline search: one execution of ``PipelineSearch.fit``.

``SearchRun`` prepares the table (folds, metric, leak guard), cross-validates each configuration
that ``proposals`` chooses within the time left (cutting short what cannot finish), records each
choice in MLflow and the audit log, and ends as ``final`` says (ensemble, refit or baseline).
It reads and writes its ``PipelineSearch`` through ``SearchSettings``, so it does not import
``search`` (which imports it).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from hub_kernel.automl.ensembles import FoldEnsemble, class_scores
from hub_kernel.automl.final import FinalModel
from hub_kernel.automl.pipelines import config_pipeline, fit_in_steps, preprocessed_widths
from hub_kernel.automl.proposals import FamilyState, Planned, Proposals
from hub_kernel.automl.results import Evaluation, SearchResult
from hub_kernel.automl.scoring import baseline_score, metric_function, scorer_for
from hub_kernel.automl.space import FAMILIES, SCALED_FAMILIES, SIZE_PARAM, Config, work
from hub_kernel.automl.tracking import SearchTracker
from hub_kernel.automl.warmstart import AGENT, MetaStore, search_features
from hub_kernel.exceptions import HubError, ModelError, OutOfTime
from hub_kernel.models.leakage import leak_tags

if TYPE_CHECKING:
    from hub_kernel.automl.observation import FamilyPolicy
    from hub_kernel.data.profile import DatasetProfile
    from hub_kernel.models.leakage import LeakReport
    from hub_kernel.safety.audit import AuditLog

logger = logging.getLogger("hub_kernel")


class SearchSettings(Protocol):
    """What a run reads and writes of its ``PipelineSearch``: the estimator's parameters, the
    results it publishes, its lock and stop event."""

    budget: float
    metric: str | None
    cv: int | None
    n_jobs: int
    random_state: int
    max_evaluations: int | None
    families: Sequence[str] | None
    warm_start: MetaStore | bool | None
    exclude: Sequence[str]
    start: Sequence[Mapping[str, Any]]
    policy: FamilyPolicy | None
    track: bool
    tracking_uri: str | None
    audit: AuditLog | bool | None
    refit: bool
    early_stop: bool
    ensemble: bool
    name: str
    callback: Callable[[Evaluation, Any], None] | None
    leak_guard: bool
    keep_columns: Sequence[str]
    _lock: threading.Lock
    _stop: threading.Event
    best_model_: Any
    best_: Evaluation | None
    evaluations_: list[Evaluation]
    result_: SearchResult | None

    def _publish(self, evaluation: Evaluation, model: Any | None) -> None: ...


class SearchRun(Proposals, FinalModel):
    """One execution of a ``PipelineSearch`` (the state of the loop)."""

    SAFETY = 0.03  # share of the budget kept for bookkeeping
    KEEP_PER_FAMILY = 3  # evaluations per family whose out-of-fold predictions are kept
    MAX_SHARE = 0.4  # most of the budget one evaluation may take
    search: SearchSettings

    def __init__(self, search: SearchSettings, X: Any, y: Any, model_type: str,
                 profile: DatasetProfile | None) -> None:
        self.search = search
        self.started = time.monotonic()
        budget = float(search.budget)
        if not math.isfinite(budget) or budget <= 0:
            raise ModelError(f"budget must be a positive number of seconds, not {budget!r}")
        self.deadline = self.started + budget
        self.X_raw, self.y_raw, self.model_type, self.profile = X, y, model_type, profile
        self.rng = np.random.default_rng(search.random_state)
        self.families: dict[str, FamilyState] = {}
        self.evaluations: list[Evaluation] = []
        self.seen: set[str] = set()
        self.best: Evaluation | None = None
        self.best_estimators: list[Any] = []
        self.trajectory: list[tuple[float, float]] = []
        self.tracker: SearchTracker | None = None
        self.audit: AuditLog | None = None
        self.notes: list[str] = []
        self.failures: dict[str, int] = {}
        self.queue: list[Planned] = []
        self.projected: float | None = None
        self.last_oof: np.ndarray | None = None
        self.kept: dict[int, tuple[np.ndarray, FoldEnsemble]] = {}
        self.warm: list[tuple[str, float]] = []
        self.family_prior: dict[str, float] = {}
        self.leaks: LeakReport | None = None
        self.chance_score = 0.0

    # -- helpers -------------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def record(self, action: str, explanation: str, *, propensity: float | None = None,
                expected: float | None = None, observation: Any = None) -> None:
        if self.audit is None:
            return
        try:
            self.audit.record(agent=AGENT, action=action, explanation=explanation,
                              propensity=propensity, expected_reward=expected,
                              observation=observation)
        except HubError as exc:
            logger.error("could not write the strategy decision to the audit log: %s", exc)

    # -- preparation ---------------------------------------------------------------------------
    def prepare(self) -> None:
        # imported now, so that the first evaluation's time is its own
        import sklearn.ensemble
        import sklearn.linear_model
        import sklearn.neighbors
        import sklearn.svm  # noqa: F401
        from sklearn.model_selection import KFold, StratifiedKFold

        from hub_kernel.models.features import prepare_xy
        from hub_kernel.models.metrics import default_metric

        s = self.search
        rows = len(self.X_raw) if hasattr(self.X_raw, "__len__") else 0
        folds = s.cv if s.cv is not None else (5 if rows <= 2000 else 3)
        prepared = prepare_xy(self.X_raw, self.y_raw,
                                         self.model_type,  # type: ignore[arg-type]
                                         None, folds)
        self.X, self.y, self.task = prepared.X, np.asarray(prepared.y), prepared.task
        self.plan, self.folds, self.target = prepared.plan, prepared.folds, prepared.target
        self.notes.extend(prepared.notes)
        if s.leak_guard:
            self.guard()
        self.metric = s.metric or default_metric(self.y, self.task)
        self.scorer = scorer_for(self.metric, self.task, len(np.unique(self.y))
                                 if self.task == "classification" else None)
        self.metric_fn = metric_function(self.metric, self.task)
        self.classes = np.unique(self.y) if self.task == "classification" else None
        splitter = (StratifiedKFold(self.folds, shuffle=True, random_state=s.random_state)
                    if self.task == "classification"
                    else KFold(self.folds, shuffle=True, random_state=s.random_state))
        self.splits = list(splitter.split(self.X, self.y))
        self.n_rows = len(self.X)
        train_rows = int(self.n_rows * (self.folds - 1) / self.folds)
        self.train_rows = train_rows
        allowed = list(s.families) if s.families is not None else list(FAMILIES)
        unknown = [f for f in allowed if f not in FAMILIES]
        if unknown:
            raise ModelError(f"unknown estimator families {unknown}; known: "
                             f"{', '.join(FAMILIES)}")
        self.allowed_families = [f for f in allowed if FAMILIES[f].max_rows is None
                        or self.n_rows <= (FAMILIES[f].max_rows or 0)]
        if not self.allowed_families:
            raise ModelError(f"no estimator family of {allowed} handles {self.n_rows:,} rows")
        for family in self.allowed_families:
            self.families[family] = FamilyState()
        self.width = preprocessed_widths(self.plan, self.X)
        self.features = search_features(self.X, self.y, self.task, self.profile)
        if s.audit is True:
            from hub_kernel.safety.audit import AuditLog

            self.audit = AuditLog()
        elif s.audit:
            self.audit = s.audit
        if self.tracker is not None:
            self.tracker.params({
                "task": self.task, "metric": self.metric, "budget_seconds": s.budget,
                "cv_folds": self.folds, "n_rows": self.n_rows,
                "n_features": len(self.plan.features), "families": ",".join(self.allowed_families),
                "n_jobs": s.n_jobs, "target": self.target,
                "excluded_columns": ", ".join(self.leaks.excluded)
                if self.leaks is not None else "-"})
            self.tracker.tags(leak_tags(self.leaks))

    def guard(self) -> None:
        """Leave out the columns that leak the target (and identifiers), or ``ModelError``
        when nothing else is left."""
        from hub_kernel.models.leakage import find_leaks, without_leaks

        s = self.search
        self.leaks = find_leaks(self.X, pd.Series(self.y, name=self.target), self.task,
                                s.keep_columns, seed=s.random_state)
        for leak in self.leaks.leaks:
            logger.info("search %s: left out %s", s.name, leak.describe())
        self.notes.extend(self.leaks.caveats())
        if self.leaks.leaks:
            self.plan = without_leaks(self.plan, self.leaks)
            self.X = self.X.drop(columns=list(self.leaks.excluded))
            self.record("leaks", "left out as leaks of the target: " + "; ".join(
                leak.describe() for leak in self.leaks.leaks))

    def reserve(self) -> float:
        """Seconds kept back for the final refit of the best configuration."""
        if not self.search.refit or self.best is None:
            return self.SAFETY * self.search.budget
        return self.refit_seconds() + self.SAFETY * self.search.budget

    def refit_seconds(self) -> float:
        """What refitting the best configuration on all rows should take, with a margin for
        busy cores."""
        assert self.best is not None
        return self.best.fit_seconds * self.folds / max(self.folds - 1, 1) * 1.5

    def openmp_threads(self) -> int:
        """Threads for OpenMP code (histogram boosting): on small data the threads' sync
        costs more than they give (several times slower on busy cores), so one."""
        n_jobs = max(1, int(self.search.n_jobs))
        return n_jobs if self.n_rows * max(self.width.values()) >= 200_000 else 1

    def allowed(self) -> float:
        """Longest one evaluation may take: the time left, and (once there is a model) at
        most ``MAX_SHARE`` of the budget."""
        left = self.remaining() - self.reserve()
        if self.best is None:
            return max(0.0, left)
        return max(0.0, min(left, self.MAX_SHARE * self.search.budget))

    def evaluate(self, config: Config) -> tuple[list[float], list[float], list[Any]] | None:
        """Cross-validate ``config``; None when it cannot finish in time: the deadline came,
        or the first folds show it would take longer than ``allowed()`` (then
        ``self.projected`` holds the seconds it would have taken)."""
        from joblib import Parallel, delayed
        from threadpoolctl import threadpool_limits

        n_jobs = max(1, int(self.search.n_jobs))
        width = self.width["onehot" if config.family in SCALED_FAMILIES else "ordinal"]
        parallel_folds = config.family in ("linear", "svm") and n_jobs > 1
        inner_jobs = 1 if parallel_folds else n_jobs

        hard_deadline = self.deadline - self.SAFETY * self.search.budget
        results: list[tuple[float, float, tuple[Any, np.ndarray | None]]] = []
        batch = n_jobs if parallel_folds else 1
        allowed = self.allowed()
        self.projected = None
        began = time.monotonic()
        cutoff = min(hard_deadline, began + 1.25 * allowed)

        def fold(train: np.ndarray, test: np.ndarray
                 ) -> tuple[float, float, tuple[Any, np.ndarray | None]]:
            model = config_pipeline(config, self.plan, self.task, seed=self.search.random_state,
                                   n_jobs=inner_jobs, n_rows=len(train), n_features=width)
            started = time.perf_counter()
            if config.family in SIZE_PARAM:
                fit_in_steps(model, self.X.iloc[train], self.y[train],
                              SIZE_PARAM[config.family], cutoff, self.search._stop)
            else:
                model.fit(self.X.iloc[train], self.y[train])
            fitted = time.perf_counter() - started
            X_test, y_test = self.X.iloc[test], self.y[test]
            if self.metric_fn is None:
                return float(self.scorer(model, X_test, y_test)), fitted, (model, None)
            if self.classes is not None:
                predicted = class_scores(model, X_test, self.classes)
                labels = self.classes[np.argmax(predicted, axis=1)]
                return float(self.metric_fn(y_test, labels)), fitted, (model, predicted)
            predicted = np.asarray(model.predict(X_test), dtype="float64")
            return float(self.metric_fn(y_test, predicted)), fitted, (model, predicted)

        with threadpool_limits(limits=self.openmp_threads(), user_api="openmp"):
            for start in range(0, len(self.splits), batch):
                if time.monotonic() > hard_deadline or self.search._stop.is_set():
                    return None
                if start:
                    done = time.monotonic() - began
                    projected = done * len(self.splits) / start
                    if projected > allowed * 1.25:
                        self.projected = projected
                        return None
                chunk = self.splits[start:start + batch]
                try:
                    if batch > 1:
                        results += Parallel(n_jobs=batch, prefer="threads")(
                            delayed(fold)(train, test) for train, test in chunk)
                    else:
                        results += [fold(train, test) for train, test in chunk]
                except OutOfTime as out:
                    if not self.search._stop.is_set() and time.monotonic() < hard_deadline:
                        # cut for taking too long: project from the share of the work done
                        done = time.monotonic() - began
                        finished = start + out.fraction * batch
                        self.projected = done * len(self.splits) / max(finished, 1e-3)
                    return None
        scores = [r[0] for r in results]
        if not all(math.isfinite(s) for s in scores):
            raise ValueError("the score is not a number on some fold")
        predictions = [r[2][1] for r in results]
        if all(p is not None for p in predictions):
            shape = (self.n_rows, len(self.classes)) if self.classes is not None \
                else (self.n_rows,)
            oof = np.zeros(shape)
            for (_, test), predicted in zip(self.splits, predictions, strict=True):
                oof[test] = predicted
            self.last_oof = oof
        else:
            self.last_oof = None
        return scores, [r[1] for r in results], [r[2][0] for r in results]

    def run_one(self, config: Config, explanation: str, expected: float | None,
                propensity: float, source: str) -> Evaluation | None:
        self.seen.add(config.key)
        family = config.family
        state = self.families[family]
        estimate = state.estimate(config)
        if estimate is not None and estimate > self.allowed():
            smaller = self.fit_in(config, self.allowed(), estimate)
            if smaller is None:
                return None
            explanation += (f"; scaled down to {smaller.params[SIZE_PARAM[family]]} "
                            f"{SIZE_PARAM[family]} to fit the time left (about {estimate:.1f} s "
                            "otherwise)")
            config = smaller
            self.seen.add(config.key)
        began = time.monotonic()
        try:
            found = self.evaluate(config)
        except Exception as exc:
            detail = " ".join(str(exc).split())[:200]
            logger.warning("configuration %s failed: %s: %s", config.label(),
                           type(exc).__name__, detail)
            self.failures[family] = self.failures.get(family, 0) + 1
            dropped = self.failures[family] >= 2
            if dropped and (len(self.families) > 1 or self.best is not None):
                self.families.pop(family, None)
            self.record(f"failed:{family}", f"{config.label()} failed ({type(exc).__name__}: "
                         f"{detail}); the search goes on without it"
                         + (f" and without {family}" if dropped else ""),
                         propensity=propensity)
            return None
        if found is None:
            if self.projected is not None:
                state.rates.append(self.projected / work(config))
                self.plan_cheaper(config, self.projected, explanation)
            return None
        scores, fits, models = found
        index = len(self.evaluations) + 1
        evaluation = Evaluation(
            index=index, config=config, score=float(np.mean(scores)),
            std=float(np.std(scores)), seconds=time.monotonic() - began,
            fit_seconds=float(np.mean(fits)), expected=expected,
            explanation=f"{config.label()}: {explanation}", propensity=propensity,
            finished_at=self.elapsed(), source=source)
        improved = self.best is None or evaluation.score > self.best.score
        family_best = state.best
        state.stall = 0 if family_best is None or evaluation.score > family_best.score \
            else state.stall + 1
        state.evaluations.append(evaluation)
        state.rates.append(evaluation.seconds / work(config))
        self.evaluations.append(evaluation)
        if self.tracker is not None:
            evaluation.run_id = self.tracker.child(evaluation)
        self.record(f"evaluate:{family}", evaluation.explanation + f". Scored "
                     f"{self.metric} {evaluation.score:.4f} ± {evaluation.std:.4f}"
                     + (" (new best)" if improved else ""),
                     propensity=propensity, expected=expected,
                     observation={"dataset": self.search.name, "index": index,
                                  "config": config.to_dict()})
        model = None
        fold_models = FoldEnsemble(models, self.task)
        if self.last_oof is not None:
            self.kept[index] = (self.last_oof, fold_models)
            # only the best few of each family can join an ensemble (diversity helps it)
            mine = [i for i in self.kept if self.evaluations[i - 1].config.family == family]
            if len(mine) > self.KEEP_PER_FAMILY:
                del self.kept[min(mine, key=lambda i: self.evaluations[i - 1].score)]
        if improved:
            self.best = evaluation
            model = fold_models
            self.trajectory.append((evaluation.finished_at, evaluation.score))
        self.search._publish(evaluation, model)
        if self.search.callback is not None:
            self.search.callback(evaluation, self.search)
        return evaluation

    # -- the loop ---------------------------------------------------------------------------------
    def execute(self) -> SearchResult:
        search = self.search
        search._stop.clear()
        with search._lock:
            search.best_model_, search.best_, search.evaluations_ = None, None, []
        if search.track:  # opening the store (a migration, the first time) is not search time
            self.tracker = SearchTracker(search.tracking_uri, search.name)
            self.started = time.monotonic()
            self.deadline = self.started + float(search.budget)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.prepare()
                self.baseline_score = baseline_score(self.task, self.X, self.y, self.splits,
                                                     self.scorer)
                self.chance_score = self.baseline_score if self.task == "regression" else max(
                    self.baseline_score, baseline_score(self.task, self.X, self.y,
                                                        self.splits, self.scorer, "stratified"))
                result = self.loop()
        except HubError:
            if self.tracker is not None:
                self.tracker.fail()
            raise
        except Exception as exc:
            if self.tracker is not None:
                self.tracker.fail()
            raise ModelError(f"the pipeline search failed: {type(exc).__name__}: {exc}"
                             ) from exc
        search.result_ = result
        return result

    def loop(self) -> SearchResult:
        search = self.search
        queue = self.queue = self.portfolio()
        stop_reason = "budget spent"
        limit = search.max_evaluations
        while True:
            if search._stop.is_set():
                stop_reason = "stopped on request"
                break
            if limit is not None and len(self.evaluations) >= limit:
                stop_reason = f"{limit} evaluations done"
                break
            if self.remaining() - self.reserve() <= 0:
                break
            if queue:
                planned = queue.pop(0)
                config, explanation, source = planned.config, planned.why, planned.source
                if config.key in self.seen or config.family not in self.families:
                    continue
                propensity = 1.0  # the portfolio's order is fixed given what is known
                expected = self.expected_for(planned)
            elif self.best is None:
                stop_reason = "no configuration could be evaluated"
                break
            else:
                if search.early_stop and self.converged():
                    stop_reason = ("converged: no improvement in the last "
                                   f"{max(10, 3 * len(self.families))} evaluations")
                    break
                choice = self.choose()
                if choice is None:
                    stop_reason = "budget spent (nothing more fits in the time left)"
                    break
                config, explanation, expected, propensity = choice
                source = "bandit"
            self.run_one(config, explanation, expected, propensity, source)
        if self.best is None:
            raise ModelError(
                f"no configuration finished within the budget of {search.budget:g} s; give "
                "the search more time (budget) or fewer rows")
        self.record("stop", f"search stopped ({stop_reason}) after {len(self.evaluations)} "
                     f"evaluations in {self.elapsed():.1f} s; best {self.best.config.label()} "
                     f"with {self.metric} {self.best.score:.4f} (baseline "
                     f"{self.baseline_score:.4f})", expected=self.best.score)
        combined, combined_score = self.combine() if search.ensemble else ([], None)
        beats = self.beats_baseline(combined_score)
        if not beats:
            model, refit = self.baseline_model(), True
            combined, combined_score = [], None
        elif combined:
            model, refit = self.ensemble_model(combined), False
            with search._lock:
                search.best_model_ = model
        else:
            model, refit = self.final_model()
        result = SearchResult(
            task=self.task, metric=self.metric, best=self.best, model=model,
            evaluations=list(self.evaluations), baseline_score=self.baseline_score,
            seconds=self.elapsed(), stop_reason=stop_reason, refit=refit, target=self.target,
            features=tuple(self.plan.features), warm_start=list(self.warm),
            parent_run_id=self.tracker.parent_id if self.tracker is not None else None,
            notes=tuple(self.notes), trajectory=list(self.trajectory),
            meta_features=tuple(float(v) for v in self.features), ensemble=combined,
            ensemble_score=combined_score, beats_baseline=beats, leaks=self.leaks,
            chance_score=self.chance_score)
        if self.tracker is not None:
            self.tracker.finish(result)
        return result

