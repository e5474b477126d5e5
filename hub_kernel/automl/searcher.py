"""One call for a searched model: a ``PipelineSearch`` warm-started from a ``MetaStore`` (and
guided by a trained family policy, if any), whose outcome is remembered for the next dataset.
The strategy agent's ``search`` and the ``supervised_model`` analysis both go through it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hub_kernel.automl.search import PipelineSearch
from hub_kernel.automl.warmstart import MetaStore, remember_search

if TYPE_CHECKING:
    from hub_kernel.automl.observation import FamilyPolicy
    from hub_kernel.automl.results import SearchResult
    from hub_kernel.safety.audit import AuditLog


def search_and_remember(X: Any, y: Any, *, store: MetaStore, policy: FamilyPolicy | None = None,
                        audit: AuditLog | None = None, seed: int = 0, budget: float = 10.0,
                        name: str = "dataset", metric: str | None = None,
                        n_jobs: int | None = None, track: bool = True, remember: bool = True,
                        warm_start: bool = True, exclude: Sequence[str] = (),
                        **kwargs: Any) -> SearchResult:
    """Search pipelines for ``y`` from ``X`` within ``budget`` seconds (all cores unless
    ``n_jobs``), warm-started from ``store`` unless ``warm_start`` is false; with ``remember``
    the outcome is kept in ``store`` under ``name``. ``kwargs`` go to ``PipelineSearch``."""
    search = PipelineSearch(
        budget=budget, metric=metric, n_jobs=n_jobs or os.cpu_count() or 1,
        random_state=seed, warm_start=store if warm_start else None, exclude=exclude,
        policy=policy, track=track, audit=audit, name=name, **kwargs)
    result = search.fit(X, y)
    if remember:
        remember_search(store, name, result)
    return result
