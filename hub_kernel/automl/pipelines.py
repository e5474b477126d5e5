"""The scikit-learn pipeline of a configuration: the trainer's preprocessing
(``hub_kernel.models.features``) with the configuration's scaler and encoding, an optional
feature selection, and the family's estimator; and fitting boosting and forests in
warm-started steps so that a fit past its deadline is cut short.

scikit-learn is imported inside the functions that use it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from hub_kernel.automl.space import FAMILIES, SCALED_FAMILIES, Config
from hub_kernel.exceptions import AgentError, OutOfTime

if TYPE_CHECKING:
    from hub_kernel.models.features import FeaturePlan


class StopFlag(Protocol):
    """What tells a fit to give up (a ``threading.Event``, or a Dask event on a worker)."""

    def is_set(self) -> bool: ...


def estimator_for(config: Config, task: str, *, seed: int, n_jobs: int, n_features: int,
                  n_rows: int) -> Any:
    """The estimator of ``config`` (``n_features``: the width it sees, for the SVM's gamma)."""
    from sklearn import ensemble, linear_model, neighbors, svm

    p = dict(config.params)
    classify = task == "classification"
    family = config.family
    if family == "hgb":
        cls = (ensemble.HistGradientBoostingClassifier if classify
               else ensemble.HistGradientBoostingRegressor)
        return cls(learning_rate=p["learning_rate"], max_iter=int(p["max_iter"]),
                   max_leaf_nodes=int(p["max_leaf_nodes"]),
                   min_samples_leaf=int(p["min_samples_leaf"]),
                   l2_regularization=p["l2_regularization"], max_features=p["max_features"],
                   random_state=seed)
    if family in ("rf", "et"):
        name = ("RandomForest" if family == "rf" else "ExtraTrees") + (
            "Classifier" if classify else "Regressor")
        cls = getattr(ensemble, name)
        return cls(n_estimators=int(p["n_estimators"]), max_features=p["max_features"],
                   min_samples_leaf=int(p["min_samples_leaf"]), n_jobs=n_jobs,
                   random_state=seed)
    if family == "linear":
        if classify:
            return linear_model.LogisticRegression(C=p["C"], max_iter=2000)
        return linear_model.Ridge(alpha=1.0 / p["C"])
    if family == "svm":
        gamma = p["gamma_factor"] / max(n_features, 1)
        if classify:
            return svm.SVC(C=p["C"], gamma=gamma, cache_size=500)
        from sklearn.compose import TransformedTargetRegressor
        from sklearn.preprocessing import StandardScaler

        return TransformedTargetRegressor(svm.SVR(C=p["C"], gamma=gamma, epsilon=p["epsilon"],
                                                  cache_size=500),
                                          transformer=StandardScaler())
    if family == "knn":
        k = max(1, min(int(p["n_neighbors"]), n_rows - 1))
        cls = neighbors.KNeighborsClassifier if classify else neighbors.KNeighborsRegressor
        return cls(n_neighbors=k, weights=p["weights"], p=int(p["p"]), n_jobs=n_jobs)
    raise AgentError(f"unknown estimator family {family!r}; known: {', '.join(FAMILIES)}")


def config_pipeline(config: Config, plan: FeaturePlan, task: str, *, seed: int = 0,
                    n_jobs: int = 1, n_rows: int = 1000, n_features: int | None = None) -> Any:
    """The scikit-learn ``Pipeline`` (preprocessing, optional selection, estimator) of
    ``config`` for data sorted by ``plan``. ``n_features`` is the width after preprocessing
    (for the SVM's gamma); ``n_rows`` the training rows (for quantiles and k)."""
    from sklearn.feature_selection import SelectPercentile, f_classif, f_regression

    from hub_kernel.models.features import build_pipeline, build_preprocessor

    params = config.params
    scaled = config.family in SCALED_FAMILIES
    preprocessor = build_preprocessor(
        plan, scaler=params.get("prep.scaler", "standard") if scaled else "none",
        categorical="onehot" if scaled else "ordinal", max_categories=50, n_rows=n_rows)
    select = int(params.get("prep.select", 100))
    width = n_features if n_features is not None else len(plan.features)
    selector = None
    if select < 100:
        selector = SelectPercentile(f_classif if task == "classification" else f_regression,
                                    percentile=select)
        width = max(1, round(width * select / 100))
    return build_pipeline(plan, estimator_for(config, task, seed=seed, n_jobs=n_jobs,
                                              n_features=width, n_rows=n_rows),
                          preprocessor=preprocessor, select=selector)


def fit_in_steps(model: Any, X: pd.DataFrame, y: np.ndarray, size_param: str,
                  deadline: float, stop: StopFlag, steps: int = 6) -> None:
    """Fit a pipeline whose last step grows by ``size_param`` (trees, boosting iterations)
    in ``steps`` warm-started increments, giving up (``OutOfTime``) past ``deadline``: an
    evaluation that cannot finish in time costs at most one increment more than it may."""
    preprocess, estimator = model[:-1], model[-1]
    Xt = preprocess.fit_transform(X, y)
    total = int(estimator.get_params()[size_param])
    increment = max(8, -(-total // steps))
    done = min(total, increment)
    estimator.set_params(warm_start=True)
    while True:
        estimator.set_params(**{size_param: done})
        estimator.fit(Xt, y)
        if done >= total:
            break
        if time.monotonic() > deadline or stop.is_set():
            raise OutOfTime(done / total)
        done = min(total, done + increment)


def preprocessed_widths(plan: FeaturePlan, X: pd.DataFrame) -> dict[str, int]:
    """Columns after each encoding of the categories (``onehot``, ``ordinal``), measured on the
    first 500 rows of ``X`` (the SVM's gamma is relative to it)."""
    from hub_kernel.models.features import build_preprocessor

    sample = X.iloc[: min(len(X), 500)]
    widths = {}
    for categorical in ("onehot", "ordinal"):
        try:
            pre = build_preprocessor(plan, scaler="none", categorical=categorical,
                                     max_categories=50, n_rows=len(sample))
            widths[categorical] = int(pre.fit_transform(sample).shape[1])
        except Exception:  # a failure here shows again, explained, in the evaluation
            widths[categorical] = len(plan.features)
    return widths
