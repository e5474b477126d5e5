"""The pipeline search on Dask workers: asynchronous successive choices.

The prepared table and its folds are scattered to the workers once. The search keeps as many
evaluations under way as the cluster has worker threads; whenever one ends, its result goes
into the bandit, the anytime best model, the MLflow child run and the audit log (all in the
search's process, as in-process) and the next configuration is chosen with what is known then.
Each evaluation is ``evaluate_on_worker``: the same cross-validation, cut short the same way,
as in-process (``evaluation.cross_validate``). The budget holds as in-process: nothing is
submitted once the time left is the final step's, and what is still under way at the deadline
is cancelled; ``stop()`` cancels what is under way (workers see it at their next step, through
a ``distributed.Event``). A worker lost mid-evaluation costs that evaluation only.

Imported only when the search has a cluster (``cluster.open_cluster``).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from distributed import Event, KilledWorker

from hub_kernel.automl.evaluation import CVOutcome, FoldData, cross_validate
from hub_kernel.automl.scoring import metric_function, scorer_for
from hub_kernel.automl.space import Config

if TYPE_CHECKING:
    from hub_kernel.automl.cluster import Cluster
    from hub_kernel.automl.results import Evaluation

logger = logging.getLogger("hub_kernel")

POLL = 0.1  # seconds between looks at stop() and the deadline while waiting for results
STOP_POLL = 0.25  # seconds between a worker's looks at the search's stop event


class WorkerStop:
    """The search's stop event as a worker sees it (asked at most every ``STOP_POLL`` s)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.asked = time.monotonic()  # the first look waits a poll: short work never asks
        self.stopped = False

    def is_set(self) -> bool:
        now = time.monotonic()
        if self.stopped or now - self.asked < STOP_POLL:
            return self.stopped
        self.asked = now
        try:
            self.stopped = bool(Event(self.name).is_set())
        except Exception:  # the scheduler is going away: the deadline still ends the work
            return False
        return self.stopped


@functools.lru_cache(maxsize=8)
def _scoring(metric: str, task: str, n_classes: int | None
             ) -> tuple[Any, Callable[[np.ndarray, np.ndarray], float] | None]:
    return scorer_for(metric, task, n_classes), metric_function(metric, task)


def evaluate_on_worker(config: Config, data: FoldData, *, allowed: float, deadline: float,
                       stop_name: str, n_jobs: int = 1) -> tuple[CVOutcome, str | None, int]:
    """One configuration's cross-validation on a Dask worker: (outcome, worker address,
    process id). ``deadline`` is the search's hard deadline as ``time.time()`` seconds (its
    clock is the machine's, as the worker's monotonic clock is its own)."""
    hard_deadline = time.monotonic() + (deadline - time.time())
    n_classes = len(data.classes) if data.classes is not None else None
    scorer, metric_fn = _scoring(data.metric, data.task, n_classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = cross_validate(config, data, n_jobs=n_jobs, allowed=allowed,
                                 hard_deadline=hard_deadline, stop=WorkerStop(stop_name),
                                 scorer=scorer, metric_fn=metric_fn)
    try:
        from distributed import get_worker

        address: str | None = str(get_worker().address)
    except ValueError:  # not on a worker (called directly)
        address = None
    return outcome, address, os.getpid()


class SearchRun(Protocol):
    """What the loop uses of the search run (``run.SearchRun``)."""

    search: Any
    data: FoldData

    def next_choice(self, busy: int = 0
                    ) -> tuple[Config, str, float | None, float, str] | str | None: ...

    def begin(self, config: Config, explanation: str) -> tuple[Config, str] | None: ...

    def allowed(self) -> float: ...

    def hard_deadline(self) -> float: ...

    def remaining(self) -> float: ...

    def reserve(self) -> float: ...

    def record(self, action: str, explanation: str, *, propensity: float | None = None,
               expected: float | None = None, observation: Any = None) -> None: ...

    def failed(self, config: Config, exc: BaseException, propensity: float, *,
               lost: bool = False) -> None: ...

    def conclude(self, config: Config, found: CVOutcome, explanation: str,
                 expected: float | None, propensity: float, source: str, seconds: float,
                 worker: str | None = None) -> Evaluation | None: ...


@dataclass
class Pending:
    """An evaluation under way on the cluster, and how it was chosen."""

    config: Config
    explanation: str
    expected: float | None
    propensity: float
    source: str
    submitted: float  # time.monotonic()


def run_on_cluster(run: SearchRun, cluster: Cluster) -> str:
    """The search loop of ``run`` on ``cluster``; returns why it stopped."""
    client = cluster.client
    search = run.search
    with search._lock:
        search.cluster_ = cluster.describe()
    data = client.scatter(run.data, broadcast=True, hash=False)
    stop_name = f"hub-search-stop-{uuid.uuid4().hex}"
    stop_event = Event(stop_name, client=client)
    under_way: dict[Any, Pending] = {}
    stop_reason: str | None = None
    threads, threads_at = cluster.threads(), time.monotonic()
    arrived: float | None = None  # when the last result came in (for the turnaround)
    # set when an evaluation ends (distributed.wait would use the process's default client,
    # which may be another one)
    ended = threading.Event()
    # the next choice, made while every worker is busy: choosing (the bandit's Gaussian process)
    # takes a noticeable time, which would otherwise leave a worker idle after each result
    prepared: tuple[Config, str, float | None, float, str] | None = None
    try:
        while True:
            if time.monotonic() - threads_at > 1.0:  # workers come and go
                threads, threads_at = cluster.threads(), time.monotonic()
            while stop_reason is None and len(under_way) < threads:
                fresh = (prepared is None or search._stop.is_set()
                         or run.remaining() - run.reserve() <= 0)
                choice = run.next_choice(busy=len(under_way)) if fresh else prepared
                prepared = None
                if choice is None:
                    break
                if isinstance(choice, str):
                    stop_reason = choice
                    break
                config, explanation, expected, propensity, source = choice
                begun = run.begin(config, explanation)
                if begun is None:
                    continue
                config, explanation = begun
                deadline = time.time() + (run.hard_deadline() - time.monotonic())
                future = client.submit(
                    evaluate_on_worker, config, data, allowed=run.allowed(),
                    deadline=deadline, stop_name=stop_name, pure=False, retries=0,
                    key=f"hub-evaluate-{config.family}-{uuid.uuid4().hex}")
                future.add_done_callback(lambda _future: ended.set())
                now = time.monotonic()
                under_way[future] = Pending(config, explanation, expected, propensity,
                                            source, now)
                if arrived is not None:
                    cluster.turnaround.append(now - arrived)
                    arrived = None
            if search._stop.is_set():
                return _cancel(run, under_way, cluster, stop_event, "stopped on request")
            if not under_way:
                if stop_reason is not None:
                    return stop_reason
                if run.remaining() - run.reserve() <= 0:
                    return "budget spent"
                time.sleep(POLL)  # no worker to run on (yet): wait for one
                continue
            if time.monotonic() >= run.hard_deadline():
                return _cancel(run, under_way, cluster, stop_event,
                               stop_reason or "budget spent")
            if (prepared is None and stop_reason is None and len(under_way) >= threads
                    and not ended.is_set()):
                ahead = run.next_choice(busy=len(under_way))
                # a reason to stop or to wait is decided again once results are in
                prepared = ahead if isinstance(ahead, tuple) else None
            ended.wait(POLL)
            ended.clear()
            for future in [f for f in under_way if f.done()]:
                arrived = time.monotonic()
                _take_in(run, cluster, future, under_way.pop(future), arrived)
    finally:
        try:
            stop_event.set()  # what still runs on a worker gives up at its next step
            for future in under_way:
                future.cancel()
            client.cancel([data])
        except Exception as exc:  # the cluster is going away: nothing more to tidy
            logger.debug("tidying the Dask search: %s", exc)


def _cancel(run: SearchRun, under_way: dict[Any, Pending], cluster: Cluster,
            stop_event: Any, reason: str) -> str:
    """Cancel what is under way (the search stops: ``reason``), each named in the audit log."""
    stop_event.set()
    for future, pending in under_way.items():
        future.cancel()
        run.record(f"cut:{pending.config.family}", f"{pending.config.label()} was still under "
                   f"way on a Dask worker when the search stopped ({reason}): cancelled",
                   propensity=pending.propensity)
    cluster.cut += len(under_way)
    under_way.clear()
    return reason


def _take_in(run: SearchRun, cluster: Cluster, future: Any, pending: Pending,
             arrived: float) -> None:
    """A finished evaluation into the search: scored, failed, or lost with its worker."""
    p = pending
    if future.status == "finished":
        try:
            outcome, worker, _pid = future.result()
        except Exception as exc:  # the result was lost on its way back
            cluster.lost += 1
            run.failed(p.config, exc, p.propensity, lost=True)
            return
        cluster.transit.append(max(0.0, arrived - p.submitted - outcome.seconds))
        run.conclude(p.config, outcome, p.explanation, p.expected, p.propensity, p.source,
                     outcome.seconds, worker=worker)
        return
    error = future.exception() if future.status == "error" else None
    if error is None or isinstance(error, KilledWorker):
        cluster.lost += 1
        run.failed(p.config, error or RuntimeError(f"the evaluation was {future.status}"),
                   p.propensity, lost=True)
        return
    run.failed(p.config, error, p.propensity)
