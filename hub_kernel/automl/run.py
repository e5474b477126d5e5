"""The run loop of a pipeline search: one execution of ``PipelineSearch.fit``.

``SearchRun`` prepares the table (folds, metric, leak guard), cross-validates each configuration
that ``proposals`` chooses within the time left (cutting short what cannot finish), records each
choice in MLflow and the audit log, and ends as ``final`` says (ensemble, refit or baseline).
Each evaluation is ``evaluation.cross_validate``: here, one after another, or on the Dask
workers of ``cluster`` (``distributed.run_on_cluster``: several at once, choosing the next one
whenever one ends).
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

from hub_kernel.automl.cluster import cluster_address, open_cluster
from hub_kernel.automl.ensembles import FoldEnsemble
from hub_kernel.automl.evaluation import CVOutcome, FoldData, cross_validate
from hub_kernel.automl.final import FinalModel
from hub_kernel.automl.pipelines import preprocessed_widths
from hub_kernel.automl.proposals import FamilyState, Planned, Proposals
from hub_kernel.automl.results import Evaluation, SearchResult
from hub_kernel.automl.scoring import baseline_score, metric_function, scorer_for
from hub_kernel.automl.space import FAMILIES, SIZE_PARAM, Config, work
from hub_kernel.automl.tracking import SearchTracker
from hub_kernel.automl.warmstart import AGENT, MetaStore, search_features
from hub_kernel.exceptions import HubError, ModelError
from hub_kernel.models.leakage import leak_tags

if TYPE_CHECKING:
    from hub_kernel.automl.cluster import Cluster
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
    cluster: str | None
    cluster_: dict[str, Any] | None
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
        self.cluster: Cluster | None = None

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
        self.data = self.fold_data()
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
                "cluster": self.cluster.address if self.cluster is not None else "in-process",
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

    def fold_data(self) -> FoldData:
        """What an evaluation needs of the prepared table (sent once to Dask workers)."""
        return FoldData(self.X, self.y, self.splits, self.plan, self.task, self.metric,
                        self.classes, self.width, self.search.random_state,
                        self.openmp_threads())

    def hard_deadline(self) -> float:
        """When every evaluation must have ended (``time.monotonic()`` seconds)."""
        return self.deadline - self.SAFETY * self.search.budget

    def evaluate(self, config: Config) -> CVOutcome:
        """Cross-validate ``config`` here; cut short (``scores`` None) when it cannot finish in
        time: the deadline came, or the first folds show it would take longer than
        ``allowed()`` (then ``projected`` holds the seconds it would have taken)."""
        return cross_validate(config, self.data, n_jobs=self.search.n_jobs,
                              allowed=self.allowed(), hard_deadline=self.hard_deadline(),
                              stop=self.search._stop, scorer=self.scorer,
                              metric_fn=self.metric_fn)

    def begin(self, config: Config, explanation: str) -> tuple[Config, str] | None:
        """Mark ``config`` as tried and scale it down when what its family's evaluations took
        says it would not fit in ``allowed()``: (config, explanation) to evaluate, or None."""
        self.seen.add(config.key)
        family = config.family
        estimate = self.families[family].estimate(config)
        if estimate is not None and estimate > self.allowed():
            smaller = self.fit_in(config, self.allowed(), estimate)
            if smaller is None:
                return None
            explanation += (f"; scaled down to {smaller.params[SIZE_PARAM[family]]} "
                            f"{SIZE_PARAM[family]} to fit the time left (about {estimate:.1f} s "
                            "otherwise)")
            config = smaller
            self.seen.add(config.key)
        return config, explanation

    def failed(self, config: Config, exc: BaseException, propensity: float, *,
               lost: bool = False) -> None:
        """Record an evaluation that raised ``exc``; a family that fails twice is dropped. A
        ``lost`` one (its Dask worker died) is not held against its family."""
        family = config.family
        detail = " ".join(str(exc).split())[:200]
        if lost:
            logger.warning("configuration %s was lost with its worker: %s", config.label(),
                           detail)
            self.record(f"lost:{family}", f"{config.label()} was lost: the Dask worker "
                         f"evaluating it died ({type(exc).__name__}: {detail}); the search "
                         "goes on without that evaluation", propensity=propensity)
            return
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

    def run_one(self, config: Config, explanation: str, expected: float | None,
                propensity: float, source: str) -> Evaluation | None:
        begun = self.begin(config, explanation)
        if begun is None:
            return None
        config, explanation = begun
        began = time.monotonic()
        try:
            found = self.evaluate(config)
        except Exception as exc:
            self.failed(config, exc, propensity)
            return None
        return self.conclude(config, found, explanation, expected, propensity, source,
                             time.monotonic() - began)

    def conclude(self, config: Config, found: CVOutcome, explanation: str,
                 expected: float | None, propensity: float, source: str, seconds: float,
                 worker: str | None = None) -> Evaluation | None:
        """Take in what evaluating ``config`` gave: the family's state, the anytime best, the
        MLflow child run, the audit record and the callback; None when it was cut short."""
        family = config.family
        # a family dropped while this ran on a Dask worker is not brought back
        state = self.families.get(family) or FamilyState()
        if found.scores is None:
            if found.projected is not None:
                state.rates.append(found.projected / work(config))
                self.plan_cheaper(config, found.projected, explanation)
            return None
        scores = found.scores
        index = len(self.evaluations) + 1
        evaluation = Evaluation(
            index=index, config=config, score=float(np.mean(scores)),
            std=float(np.std(scores)), seconds=seconds,
            fit_seconds=float(np.mean(found.fits)), expected=expected,
            explanation=f"{config.label()}: {explanation}", propensity=propensity,
            finished_at=self.elapsed(), source=source, worker=worker)
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
                     + (" (new best)" if improved else "")
                     + (f"; evaluated on the Dask worker {worker}" if worker else ""),
                     propensity=propensity, expected=expected,
                     observation={"dataset": self.search.name, "index": index,
                                  "config": config.to_dict()})
        model = None
        fold_models = FoldEnsemble(found.models, self.task)
        if found.oof is not None:
            self.kept[index] = (found.oof, fold_models)
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
            search.cluster_ = None
        # starting or reaching the Dask cluster and opening the store (a migration, the first
        # time) are not search time; without an address, Dask is not even imported
        self.cluster = open_cluster(cluster_address(search.cluster))
        try:
            if search.track:
                self.tracker = SearchTracker(search.tracking_uri, search.name)
            self.started = time.monotonic()
            self.deadline = self.started + float(search.budget)
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
        finally:
            if self.cluster is not None:
                self.cluster.close()
        search.result_ = result
        return result

    def loop(self) -> SearchResult:
        self.queue = self.portfolio()
        if self.cluster is not None:
            from hub_kernel.automl.distributed import run_on_cluster

            stop_reason = run_on_cluster(self, self.cluster)
        else:
            stop_reason = self.run_here()
        return self.finish(stop_reason)

    def run_here(self) -> str:
        """Evaluate one configuration after another in this process; why it stopped."""
        while True:
            choice = self.next_choice()
            if isinstance(choice, str):
                return choice
            assert choice is not None  # nothing is under way, so there is no waiting
            self.run_one(*choice)

    def next_choice(self, busy: int = 0
                    ) -> tuple[Config, str, float | None, float, str] | str | None:
        """The next configuration to evaluate (config, explanation, expected score,
        propensity, source), why the search stops (a string), or None to wait for the
        ``busy`` evaluations under way (on Dask workers) before choosing."""
        search = self.search
        limit = search.max_evaluations
        if search._stop.is_set():
            return "stopped on request"
        if limit is not None and len(self.evaluations) + busy >= limit:
            return f"{limit} evaluations done" if not busy else None
        if self.remaining() - self.reserve() <= 0:
            return "budget spent"
        while self.queue:
            planned = self.queue.pop(0)
            config = planned.config
            if config.key in self.seen or config.family not in self.families:
                continue
            # the portfolio's order is fixed given what is known: propensity 1
            return config, planned.why, self.expected_for(planned), 1.0, planned.source
        if self.best is None:
            return None if busy else "no configuration could be evaluated"
        if search.early_stop and self.converged():
            return ("converged: no improvement in the last "
                    f"{max(10, 3 * len(self.families))} evaluations")
        choice = self.choose()
        if choice is None:
            return None if busy else "budget spent (nothing more fits in the time left)"
        config, explanation, expected, propensity = choice
        return config, explanation, expected, propensity, "bandit"

    def finish(self, stop_reason: str) -> SearchResult:
        """The end of the search: the baseline test, the ensemble or the refit, the result."""
        search = self.search
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
            chance_score=self.chance_score,
            cluster=self.cluster.summary() if self.cluster is not None else None)
        if self.tracker is not None:
            self.tracker.finish(result)
        return result

