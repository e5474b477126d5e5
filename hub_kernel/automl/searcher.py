"""One call for a searched model: a ``PipelineSearch`` warm-started from a ``MetaStore`` (and
guided by a trained family policy, if any), whose outcome is remembered for the next dataset.
The strategy agent's ``search`` and the ``supervised_model`` analysis both go through it, and
``StrategySearcher`` (the trainer's searcher: ``ModelTrainer.train_model(..., budget=S)``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hub_kernel.automl.search import PipelineSearch
from hub_kernel.automl.warmstart import MetaStore, remember_search

if TYPE_CHECKING:
    from hub_kernel.automl.observation import FamilyPolicy
    from hub_kernel.automl.results import Evaluation, SearchResult
    from hub_kernel.models.searching import SearchOutcome, SearchRequest
    from hub_kernel.safety.audit import AuditLog

logger = logging.getLogger("hub_kernel")


def search_and_remember(X: Any, y: Any, *, store: MetaStore, policy: FamilyPolicy | None = None,
                        audit: AuditLog | None = None, seed: int = 0, budget: float = 10.0,
                        name: str = "dataset", metric: str | None = None,
                        n_jobs: int | None = None, track: bool = True, remember: bool = True,
                        warm_start: bool = True, exclude: Sequence[str] = (),
                        model_type: str = "auto", **kwargs: Any) -> SearchResult:
    """Search pipelines for ``y`` from ``X`` within ``budget`` seconds (all cores unless
    ``n_jobs``), warm-started from ``store`` unless ``warm_start`` is false; with ``remember``
    the outcome is kept in ``store`` under ``name``. ``model_type`` (auto, classification or
    regression) is the task; ``kwargs`` go to ``PipelineSearch``."""
    search = PipelineSearch(
        budget=budget, metric=metric, n_jobs=n_jobs or os.cpu_count() or 1,
        random_state=seed, warm_start=store if warm_start else None, exclude=exclude,
        policy=policy, track=track, audit=audit, name=name, **kwargs)
    result = search.fit(X, y, model_type=model_type)
    if remember:
        remember_search(store, name, result)
    return result


class StrategySearcher:
    """The trainer's searcher (``models.searching.Searcher``): the strategy search of
    ``search_and_remember``, warm-started from similar datasets (the ``MetaStore`` under
    HUB_HOME) and from ``request.start`` (what won the model's last search), guided by the
    trained family policy when there is one, its choices in the audit log and its evaluations
    as MLflow runs; what it learns is remembered under the model's name.

    The winner becomes the pipeline to register: the best configuration's pipeline, or, when an
    ensemble of configurations scored better, a ``models.blend.Blend`` of their pipelines with
    the ensemble's weights. ``callback(evaluation, search)`` follows the search (the
    dashboard's progress bar); ``store``, ``audit`` and ``use_policy`` as for
    ``search_and_remember``; ``cluster`` the Dask cluster it evaluates on (``PipelineSearch``'s
    ``cluster``: default the ``HUB_DASK_ADDRESS`` setting, else in-process)."""

    def __init__(self, *, store: MetaStore | None = None, audit: AuditLog | bool = True,
                 use_policy: bool = True, callback: Any = None,
                 cluster: str | None = None) -> None:
        self.store = store
        self.audit = audit
        self.use_policy = use_policy
        self.callback = callback
        self.cluster = cluster

    def _policy(self, store: MetaStore) -> FamilyPolicy | None:
        if not self.use_policy:
            return None
        from hub_kernel.automl.policy import load_policy
        from hub_kernel.exceptions import HubError

        try:
            return load_policy(store.path.parent)
        except HubError as exc:
            logger.warning("strategy policy not loaded: %s", exc)
            return None

    def __call__(self, request: SearchRequest) -> SearchOutcome:
        store = self.store if self.store is not None else MetaStore()
        audit = self.audit
        if audit is True:
            from hub_kernel.safety.audit import AuditLog

            audit = AuditLog()
        result = search_and_remember(
            request.X, request.y, store=store, policy=self._policy(store),
            audit=audit or None, seed=request.seed, budget=request.budget, name=request.name,
            metric=request.metric, n_jobs=request.n_jobs, track=True,
            tracking_uri=request.tracking_uri, start=list(request.start),
            callback=self.callback, model_type=request.task, cluster=self.cluster)
        return outcome_of(result, request)


def outcome_of(result: SearchResult, request: SearchRequest) -> SearchOutcome:
    """The ``SearchOutcome`` of a finished search: the winner as an unfitted pipeline (a
    ``Blend`` of the members' pipelines when an ensemble won), and the leaderboard."""
    from hub_kernel.automl.pipelines import config_pipeline, preprocessed_widths
    from hub_kernel.automl.space import SCALED_FAMILIES
    from hub_kernel.models.blend import Blend
    from hub_kernel.models.features import plan_features
    from hub_kernel.models.searching import SearchOutcome

    plan = plan_features(request.X)
    widths = preprocessed_widths(plan, request.X)
    by_index = {e.index: e for e in result.evaluations}

    def pipeline(evaluation: Evaluation) -> Any:
        config = evaluation.config
        return config_pipeline(
            config, plan, result.task, seed=request.seed, n_jobs=max(1, request.n_jobs or 1),
            n_rows=len(request.X),
            n_features=widths["onehot" if config.family in SCALED_FAMILIES else "ordinal"])

    members = [(by_index[i], w) for i, w in result.ensemble if i in by_index]
    if len(members) >= 2:
        estimator: Any = Blend([(f"{e.index:03d}-{e.config.family}", pipeline(e))
                                for e, _ in members], [w for _, w in members], result.task)
        winner = "ensemble of " + " + ".join(f"{w:.2f} x {e.config.label()}"
                                             for e, w in members)
        start = tuple(e.config.to_dict() for e, _ in members)
    else:
        estimator = pipeline(result.best)
        winner = result.best.config.label()
        start = (result.best.config.to_dict(),)
    board = result.leaderboard()
    rows = tuple({**row, "config": by_index[int(row["evaluation"])].config.to_dict()}
                 for row in board.to_dict("records")) if not board.empty else ()
    return SearchOutcome(
        estimator=estimator, winner=winner, metric=result.metric, score=result.final_score,
        baseline=result.baseline_score, leaderboard=rows, seconds=result.seconds,
        stop_reason=result.stop_reason, parent_run_id=result.parent_run_id,
        warm_start=tuple(result.warm_start), start=start, notes=result.notes)
