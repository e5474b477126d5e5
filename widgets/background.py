"""Analyses run in the background of the kernel, so the page paints before they finish.

``AnalysisJobs`` runs catalog analyses on 1-2 worker threads, the cheap ones first, each once
per dashboard data: a tile that is re-drawn (moved, resized) gets the result already computed.
Every job ends in a call of its callbacks with ``(result, error, seconds)``.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

logger = logging.getLogger("hub_kernel")

#: analyses by how long they usually take on a large table, cheapest first
CHEAP_FIRST = ("summary", "missingness", "distributions", "outliers", "correlations", "trend",
               "segments", "clustering", "feature_importance", "supervised_model")
Done = Callable[[Any, BaseException | None, float], None]  # (result, error, seconds)


def cost_rank(name: str) -> int:
    """Where ``name`` runs among the others (unknown analyses run after the known cheap ones)."""
    return CHEAP_FIRST.index(name) if name in CHEAP_FIRST else CHEAP_FIRST.index("trend")


@dataclass
class Job:
    name: str
    callbacks: list[Done] = field(default_factory=list)
    started: float | None = None
    outcome: tuple[Any, BaseException | None, float] | None = None
    finished: threading.Event = field(default_factory=threading.Event)


class AnalysisJobs:
    """Catalog analyses of one table, run on ``workers`` background threads."""

    def __init__(self, frame: pd.DataFrame, profile: Any, target: str | None = None,
                 workers: int = 1) -> None:
        self.frame, self.profile, self.target = frame, profile, target
        self._workers = max(1, min(2, workers))
        self._jobs: dict[str, Job] = {}
        self._queue: list[tuple[int, int, str]] = []
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._held = 0
        self._running = 0  # worker threads alive (counted under the lock)
        self._closed = False

    def submit(self, name: str, done: Done) -> Job:
        """Run analysis ``name`` (once) and call ``done(result, error, seconds)`` when it ends
        (at once when it already has)."""
        with self._lock:
            job = self._jobs.get(name)
            if job is None:
                job = self._jobs[name] = Job(name)
                heapq.heappush(self._queue, (cost_rank(name), next(self._order), name))
            if job.outcome is None:
                job.callbacks.append(done)
                outcome = None
            else:
                outcome = job.outcome
            self._dispatch()
        if outcome is not None:
            done(*outcome)
        return job

    def elapsed(self, name: str) -> float | None:
        """Seconds analysis ``name`` has been running (``None``: queued or unknown)."""
        job = self._jobs.get(name)
        return None if job is None or job.started is None else time.perf_counter() - job.started

    def ended(self, name: str) -> bool:
        """Whether analysis ``name`` has ended (or the jobs were closed)."""
        job = self._jobs.get(name)
        return job is None or job.finished.is_set()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Queue every job submitted inside, then start them cheapest first."""
        with self._lock:
            self._held += 1
        try:
            yield
        finally:
            with self._lock:
                self._held -= 1
                self._dispatch()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every submitted job has ended; ``False`` if ``timeout`` ran out first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for job in list(self._jobs.values()):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not job.finished.wait(left):
                return False
        return True

    def close(self) -> None:
        """Run nothing more (jobs running finish; their callbacks are not called)."""
        with self._lock:
            self._closed = True
            self._queue.clear()
            for job in self._jobs.values():
                job.callbacks.clear()
                job.finished.set()

    # -- internals -----------------------------------------------------------------------
    def _dispatch(self) -> None:  # holds the lock
        if self._held or self._closed or not self._queue:
            return
        while self._running < min(self._workers, len(self._queue) + self._running):
            self._running += 1
            threading.Thread(target=self._work, name="hub-analyses", daemon=True).start()

    def _work(self) -> None:
        from hub_kernel.analyses import get

        while True:
            with self._lock:
                if self._closed or not self._queue or self._held:
                    self._running -= 1
                    return
                _rank, _order, name = heapq.heappop(self._queue)
                job = self._jobs[name]
                job.started = time.perf_counter()
            result, error = None, None
            try:
                result = get(name).run(self.frame, self.profile, target=self.target)
            except Exception as exc:  # shown in the tile; the other analyses go on
                logger.warning("analysis %s failed: %s", name, exc)
                error = exc
            seconds = time.perf_counter() - job.started
            with self._lock:
                job.outcome = (result, error, seconds)
                callbacks, job.callbacks = job.callbacks, []
            for callback in callbacks:
                try:
                    callback(result, error, seconds)
                except Exception:
                    logger.exception("drawing analysis %s failed", name)
            job.finished.set()
