"""``PipelineSearch``: online search over preprocessing + estimator + hyperparameters within a
wall-clock budget, choosing what to evaluate next as ``proposals`` says. Every configuration is
cross-validated; the best one so far is available at any time (``best_model_``: its fold models,
averaged). At the end the best configurations are combined when that does better (greedy
ensemble selection, ``ensembles``), else the best one is refit on all rows when the budget
allows. Boosting and forests are fitted in warm-started steps (``pipelines.fit_in_steps``), so
an evaluation that cannot finish in time is cut short. Each evaluation is an MLflow child run
(``tracking``) and each choice is explained in words in the run and in the audit log.

The loop of one ``fit`` is ``run.SearchRun``; how it ends (baseline, ensemble, refit), ``final``.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from hub_kernel.automl.results import Evaluation, SearchResult
from hub_kernel.automl.run import SearchRun
from hub_kernel.automl.warmstart import MetaStore

if TYPE_CHECKING:
    from hub_kernel.automl.observation import FamilyPolicy
    from hub_kernel.data.profile import DatasetProfile
    from hub_kernel.safety.audit import AuditLog


class PipelineSearch(BaseEstimator):
    """Online search over preprocessing + estimator + hyperparameters within a time budget.

    A scikit-learn estimator (``get_params``/``set_params``; ``predict`` before ``fit``
    raises ``NotFittedError``). Estimator-style parameters, stored unchanged:

    - ``budget``: wall-clock seconds for the whole search, final refit included;
    - ``metric``: a scikit-learn scorer name (default ``models.metrics.default_metric``:
      ``balanced_accuracy`` for imbalanced classes, else ``f1_macro``, and ``r2`` for
      regression); higher is better; one that does not suit the target raises ``ModelError``;
    - ``cv``: folds of the inner cross-validation (default 5 up to 2,000 rows, else 3);
    - ``n_jobs``: cores to use (folds in parallel, or the estimator's own threads);
    - ``max_evaluations``: stop after this many configurations (``None``: only the budget);
    - ``families``: estimator families allowed (default all of ``FAMILIES``);
    - ``warm_start``: ``MetaStore`` to start from (``True``: the default one under HUB_HOME,
      ``False``/``None``: cold); ``exclude``: dataset keys or names it must not use;
    - ``start``: configurations (``Config.to_dict()``) evaluated before anything else, e.g.
      what won the last search of the same model;
    - ``policy``: a trained family policy (``observation.FamilyPolicy``, e.g. the strategy
      agent's ``StrategyPolicy``) whose preference over families is mixed into the bandit;
    - ``track``: log a parent MLflow run and one child run per configuration;
    - ``audit``: an ``AuditLog`` recording every choice (``True``: the default one);
    - ``refit``: refit the best configuration on all rows at the end when the budget allows;
    - ``early_stop``: stop before the budget when no family's optimistic bound can improve;
    - ``ensemble``: at the end, combine the best configurations (greedy selection on their
      out-of-fold predictions) when that scores better than the best one alone;
    - ``callback(evaluation, search)``: called after each evaluation;
    - ``leak_guard``: leave out the columns that leak the target (``models.leakage``; the
      ``SearchResult`` names them in ``leaks``) and identifiers; ``keep_columns`` keeps some
      on purpose;
    - ``cluster``: evaluate configurations on Dask workers (``cluster``: ``tcp://host:port``
      of a running scheduler, ``local`` or ``local:N`` for a LocalCluster of N single-threaded
      worker processes started for the search, ``none``); default the ``HUB_DASK_ADDRESS``
      setting, and without it the search runs in this process and never imports Dask. On a
      cluster, as many evaluations run at once as it has worker threads and the bandit
      chooses the next one whenever one ends; budget, ``stop()`` and ``best_model_`` behave
      as in-process, and a worker lost mid-evaluation costs that evaluation only. Each
      evaluation uses one worker thread (``n_jobs`` is then the final refit's). Starting
      or reaching the cluster is not counted in the budget (as opening the MLflow store).
      ``cluster_`` describes the cluster while the search runs (address, workers).

    When no configuration beats the trivial baseline (the most common class, the mean), the
    final model is that baseline and ``SearchResult.beats_baseline`` is false.

    ``best_model_`` is the best model so far at any moment (also from another thread while
    ``fit`` runs, e.g. ``fit_in_background``); ``stop()`` ends the search after the current
    evaluation (on a cluster: at once, cancelling what is under way).
    """

    def __init__(self, *, budget: float = 10.0, metric: str | None = None, cv: int | None = None,
                 n_jobs: int = 1, random_state: int = 0, max_evaluations: int | None = None,
                 families: Sequence[str] | None = None, warm_start: MetaStore | bool | None = True,
                 exclude: Sequence[str] = (), start: Sequence[Mapping[str, Any]] = (),
                 policy: FamilyPolicy | None = None, track: bool = False,
                 tracking_uri: str | None = None,
                 audit: AuditLog | bool | None = None, refit: bool = True,
                 early_stop: bool = False, ensemble: bool = True, name: str = "dataset",
                 callback: Callable[[Evaluation, PipelineSearch], None] | None = None,
                 leak_guard: bool = True, keep_columns: Sequence[str] = (),
                 cluster: str | None = None) -> None:
        self.budget = budget
        self.metric = metric
        self.cv = cv
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.max_evaluations = max_evaluations
        self.families = families
        self.warm_start = warm_start
        self.exclude = exclude
        self.start = start
        self.policy = policy
        self.track = track
        self.tracking_uri = tracking_uri
        self.audit = audit
        self.refit = refit
        self.early_stop = early_stop
        self.ensemble = ensemble
        self.name = name
        self.callback = callback
        self.leak_guard = leak_guard
        self.keep_columns = keep_columns
        self.cluster = cluster
        self.cluster_: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.best_model_: Any = None
        self.best_: Evaluation | None = None
        self.evaluations_: list[Evaluation] = []
        self.result_: SearchResult | None = None

    def __repr__(self) -> str:
        cluster = f", cluster={self.cluster!r}" if self.cluster is not None else ""
        return (f"PipelineSearch(budget={self.budget}, metric={self.metric!r}, "
                f"n_jobs={self.n_jobs}{cluster})")

    def stop(self) -> None:
        """Ask the search to stop after the evaluation under way."""
        self._stop.set()

    def fit_in_background(self, X: Any, y: Any, **kwargs: Any
                          ) -> concurrent.futures.Future[SearchResult]:
        """Run ``fit`` in a thread; ``best_model_`` is usable meanwhile."""
        pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hub-strategy")
        future = pool.submit(self.fit, X, y, **kwargs)
        pool.shutdown(wait=False)
        return future

    # -- the search ---------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, *, model_type: str = "auto",
            profile: DatasetProfile | None = None) -> SearchResult:
        """Search for the best pipeline predicting ``y`` (a Series, array, or a column name of
        ``X``) from ``X``; returns the ``SearchResult`` (also kept as ``result_``)."""
        return SearchRun(self, X, y, model_type, profile).execute()

    def __sklearn_is_fitted__(self) -> bool:
        return self.result_ is not None

    def predict(self, X: Any) -> np.ndarray:
        """Predictions of the final model of the last ``fit`` (``NotFittedError`` before)."""
        check_is_fitted(self)
        assert self.result_ is not None
        return self.result_.predict(X)

    def _publish(self, evaluation: Evaluation, model: Any | None) -> None:
        with self._lock:
            self.evaluations_.append(evaluation)
            if model is not None:
                self.best_, self.best_model_ = evaluation, model

