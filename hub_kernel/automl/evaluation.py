"""One configuration's cross-validation, cut short when it cannot finish in time: the work of
one evaluation of the pipeline search, in the search's process (``run.SearchRun.evaluate``) or
on a Dask worker (``distributed``). A plain function of picklable inputs (``FoldData``, the
configuration, deadlines), so that both run the same code.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hub_kernel.automl.ensembles import class_scores
from hub_kernel.automl.pipelines import StopFlag, config_pipeline, fit_in_steps
from hub_kernel.automl.space import SCALED_FAMILIES, SIZE_PARAM, Config
from hub_kernel.exceptions import OutOfTime

if TYPE_CHECKING:
    from hub_kernel.models.features import FeaturePlan


@dataclass(frozen=True)
class FoldData:
    """The prepared table and its folds: what every evaluation of one search needs."""

    X: pd.DataFrame
    y: np.ndarray
    splits: list[tuple[np.ndarray, np.ndarray]]
    plan: FeaturePlan
    task: str
    metric: str
    classes: np.ndarray | None
    width: dict[str, int]
    seed: int
    openmp_threads: int

    @property
    def n_rows(self) -> int:
        return len(self.X)


@dataclass
class CVOutcome:
    """What cross-validating a configuration gave: per-fold scores, fit seconds and fitted
    models, and the out-of-fold predictions (None when the metric needs the scorer); or, when
    cut short (``scores`` None), how long it would have taken (``projected``, None when it was
    cut by the deadline or a stop rather than for taking too long)."""

    scores: list[float] | None
    fits: list[float]
    models: list[Any]
    oof: np.ndarray | None = None
    projected: float | None = None
    seconds: float = 0.0  # wall seconds the evaluation took where it ran

    @property
    def finished(self) -> bool:
        return self.scores is not None


def cross_validate(config: Config, data: FoldData, *, n_jobs: int, allowed: float,
                   hard_deadline: float, stop: StopFlag, scorer: Any,
                   metric_fn: Callable[[np.ndarray, np.ndarray], float] | None) -> CVOutcome:
    """Cross-validate ``config`` on ``data``'s folds. Cut short (``CVOutcome.scores`` None)
    past ``hard_deadline`` (``time.monotonic()`` seconds), on ``stop``, or when the first
    folds show it would take longer than ``allowed`` seconds (then ``projected`` holds what
    it would have taken). A score that is not a number raises ``ValueError``."""
    from joblib import Parallel, delayed
    from threadpoolctl import threadpool_limits

    n_jobs = max(1, int(n_jobs))
    width = data.width["onehot" if config.family in SCALED_FAMILIES else "ordinal"]
    parallel_folds = config.family in ("linear", "svm") and n_jobs > 1
    inner_jobs = 1 if parallel_folds else n_jobs
    results: list[tuple[float, float, tuple[Any, np.ndarray | None]]] = []
    batch = n_jobs if parallel_folds else 1
    began = time.monotonic()
    cutoff = min(hard_deadline, began + 1.25 * allowed)
    X, y, splits = data.X, data.y, data.splits

    def cut(projected: float | None = None) -> CVOutcome:
        return CVOutcome(None, [], [], projected=projected, seconds=time.monotonic() - began)

    def fold(train: np.ndarray, test: np.ndarray
             ) -> tuple[float, float, tuple[Any, np.ndarray | None]]:
        model = config_pipeline(config, data.plan, data.task, seed=data.seed,
                                n_jobs=inner_jobs, n_rows=len(train), n_features=width)
        started = time.perf_counter()
        if config.family in SIZE_PARAM:
            fit_in_steps(model, X.iloc[train], y[train], SIZE_PARAM[config.family], cutoff,
                         stop)
        else:
            model.fit(X.iloc[train], y[train])
        fitted = time.perf_counter() - started
        X_test, y_test = X.iloc[test], y[test]
        if metric_fn is None:
            return float(scorer(model, X_test, y_test)), fitted, (model, None)
        if data.classes is not None:
            predicted = class_scores(model, X_test, data.classes)
            labels = data.classes[np.argmax(predicted, axis=1)]
            return float(metric_fn(y_test, labels)), fitted, (model, predicted)
        predicted = np.asarray(model.predict(X_test), dtype="float64")
        return float(metric_fn(y_test, predicted)), fitted, (model, predicted)

    with threadpool_limits(limits=data.openmp_threads, user_api="openmp"):
        for start in range(0, len(splits), batch):
            if time.monotonic() > hard_deadline or stop.is_set():
                return cut()
            if start:
                done = time.monotonic() - began
                projected = done * len(splits) / start
                if projected > allowed * 1.25:
                    return cut(projected)
            chunk = splits[start:start + batch]
            try:
                if batch > 1:
                    results += Parallel(n_jobs=batch, prefer="threads")(
                        delayed(fold)(train, test) for train, test in chunk)
                else:
                    results += [fold(train, test) for train, test in chunk]
            except OutOfTime as out:
                if not stop.is_set() and time.monotonic() < hard_deadline:
                    # cut for taking too long: project from the share of the work done
                    done = time.monotonic() - began
                    finished = start + out.fraction * batch
                    return cut(done * len(splits) / max(finished, 1e-3))
                return cut()
    scores = [r[0] for r in results]
    if not all(math.isfinite(s) for s in scores):
        raise ValueError("the score is not a number on some fold")
    predictions = [r[2][1] for r in results]
    oof = None
    if all(p is not None for p in predictions):
        shape = (data.n_rows, len(data.classes)) if data.classes is not None else (data.n_rows,)
        oof = np.zeros(shape)
        for (_, test), predicted in zip(splits, predictions, strict=True):
            oof[test] = predicted
    return CVOutcome(scores, [r[1] for r in results], [r[2][0] for r in results], oof,
                     seconds=time.monotonic() - began)
