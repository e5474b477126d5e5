"""The Analysis Strategy Agent: which analyses to show, and which model pipelines to try.

Two decisions, both learned:

(a) **Analyses worth computing and showing.** A contextual bandit (``AnalysisBandit``): for each
    analysis a Bayesian linear model of the reward a user gives its tile (kept, expanded,
    thumbs up...) given the dataset's meta-features. It starts from priors (what an analyst
    would show first) and learns from ``feedback``. An analysis is shown when a Thompson sample
    of its value clears ``threshold``; the probability of that is exact under the Gaussian
    posterior, so every decision carries its propensity (off-policy evaluable).

(b) **Which preprocessing + estimator + hyperparameters to evaluate next, and when to stop.**
    ``PipelineSearch`` runs an online search within a wall-clock budget: first a portfolio
    (configurations that did best on similar datasets, then each family's defaults), then a
    bandit over estimator families (an optimistic bound on each family's best score, per
    second of evaluation, sampled by softmax: the chosen family's probability is its
    propensity) with a Bayesian step inside the family (a Gaussian process on the configurations
    tried, expected improvement over local and random candidates). Every configuration is
    cross-validated; the best one so far is available at any time (``best_model_``: its fold
    models, averaged). At the end the best configurations are combined when that does better
    (greedy ensemble selection on their out-of-fold predictions), else the best one is refit
    on all rows when the budget allows. Boosting and forests are fitted in warm-started steps,
    so an evaluation that cannot finish in time is cut short, not waited for. Each evaluated
    configuration is an MLflow child run under one parent run, and each choice is explained
    in words (why this configuration, what score it expected) in the run and in the audit log.

Warm starts (meta-learning): ``MetaStore`` keeps, under ``$HUB_HOME/agents/strategy``, each
searched dataset's meta-features, its best configurations and every evaluation; a new dataset's
search starts from what worked on similar ones (similarity of meta-features, same task). A
small stable-baselines3 policy trained across datasets on those recorded evaluations
(``hub_kernel.agents.strategy.env``) can add its preference over families.

scikit-learn, mlflow, torch and stable-baselines3 are imported inside the functions that use
them: importing this module stays light.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import math
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from hub_kernel.exceptions import AgentError, HubError, ModelError

if TYPE_CHECKING:
    from hub_kernel.agents.strategy.env import StrategyPolicy
    from hub_kernel.data.profile import DatasetProfile
    from hub_kernel.models.features import FeaturePlan
    from hub_kernel.safety.audit import AuditLog

logger = logging.getLogger("hub_kernel")

AGENT = "strategy"
Task = Literal["classification", "regression"]


def strategy_dir() -> Path:
    """Where the strategy agent keeps its state: ``$HUB_HOME/agents/strategy``."""
    from hub_kernel.core.config import get_settings

    return get_settings().home / "agents" / "strategy"


def _write_json(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as JSON (a reader sees the old or the new file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=_json_default), encoding="utf-8")
    os.replace(tmp, path)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# ============================================================================================
# The configuration space
# ============================================================================================
@dataclass(frozen=True)
class Param:
    """One hyperparameter: its range and how it maps to the unit interval the search uses."""

    name: str
    kind: Literal["log", "int_log", "uniform", "choice"]
    low: float = 0.0
    high: float = 1.0
    default: Any = None
    choices: tuple[Any, ...] = ()
    tasks: tuple[str, ...] = ("classification", "regression")

    def to_unit(self, value: Any) -> float:
        if self.kind == "choice":
            index = self.choices.index(value) if value in self.choices else 0
            return index / max(len(self.choices) - 1, 1)
        if self.kind in ("log", "int_log"):
            return float(np.clip((math.log(value) - math.log(self.low))
                                 / (math.log(self.high) - math.log(self.low)), 0, 1))
        return float(np.clip((value - self.low) / (self.high - self.low), 0, 1))

    def from_unit(self, unit: float) -> Any:
        unit = float(np.clip(unit, 0.0, 1.0))
        if self.kind == "choice":
            return self.choices[min(round(unit * (len(self.choices) - 1)),
                                    len(self.choices) - 1)]
        if self.kind in ("log", "int_log"):
            value = math.exp(math.log(self.low) + unit * (math.log(self.high)
                                                          - math.log(self.low)))
            return round(value) if self.kind == "int_log" else float(f"{value:.4g}")
        return float(f"{self.low + unit * (self.high - self.low):.4g}")


@dataclass(frozen=True)
class Family:
    """An estimator family: its hyperparameters (``prep.*`` ones choose the preprocessing)."""

    name: str
    title: str
    params: tuple[Param, ...]
    description: str
    max_rows: int | None = None

    def space(self, task: str) -> tuple[Param, ...]:
        return tuple(p for p in self.params if task in p.tasks)

    def defaults(self, task: str, n_features: int) -> dict[str, Any]:
        values = {p.name: p.default for p in self.space(task)}
        if self.name in ("rf", "et") and "max_features" in values:
            width = max(n_features, 1)
            values["max_features"] = (float(f"{min(1.0, math.sqrt(width) / width):.4g}")
                                      if task == "classification" else 1.0)
        return values


_SCALED = (Param("prep.scaler", "choice", default="standard", choices=("standard", "quantile")),
           Param("prep.select", "choice", default=100, choices=(100, 70, 40)))

FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("hgb", "histogram gradient boosting", (
        Param("learning_rate", "log", 0.01, 0.5, 0.1),
        Param("max_iter", "int_log", 30, 800, 100),
        Param("max_leaf_nodes", "int_log", 4, 256, 31),
        Param("min_samples_leaf", "int_log", 2, 200, 20),
        Param("l2_regularization", "log", 1e-6, 10.0, 1e-6),
        Param("max_features", "uniform", 0.2, 1.0, 1.0),
    ), "boosted trees: strong on tabular data with interactions and non-linear effects"),
    Family("rf", "random forest", (
        Param("n_estimators", "int_log", 32, 512, 100),
        Param("max_features", "uniform", 0.05, 1.0, 0.3),
        Param("min_samples_leaf", "int_log", 1, 32, 1),
    ), "averaged deep trees: robust, little tuning needed"),
    Family("et", "extra trees", (
        Param("n_estimators", "int_log", 32, 512, 100),
        Param("max_features", "uniform", 0.05, 1.0, 0.3),
        Param("min_samples_leaf", "int_log", 1, 32, 1),
    ), "randomized trees: like a forest, lower variance, fast"),
    Family("linear", "regularized linear", (
        Param("C", "log", 1e-3, 1e3, 1.0),
        *_SCALED,
    ), "logistic regression / ridge: fast, strong when effects are additive (Ridge alpha = 1/C)"),
    Family("svm", "support vector machine", (
        Param("C", "log", 1e-2, 1e3, 1.0),
        Param("gamma_factor", "log", 1e-2, 1e2, 1.0),
        Param("epsilon", "log", 1e-2, 1.0, 0.1, tasks=("regression",)),
        *_SCALED,
    ), "RBF-kernel SVM: strong on small and medium data with smooth boundaries",
        max_rows=20_000),
    Family("knn", "k nearest neighbours", (
        Param("n_neighbors", "int_log", 1, 64, 5),
        Param("weights", "choice", default="uniform", choices=("uniform", "distance")),
        Param("p", "choice", default=2, choices=(1, 2)),
        *_SCALED,
    ), "nearest neighbours: local, no training, good when similar rows share labels",
        max_rows=100_000),
)}
#: the order families' defaults are tried when nothing is known (cheap and strong first)
COLD_ORDER = ("linear", "svm", "knn", "hgb", "rf", "et")


@dataclass(frozen=True)
class Config:
    """One pipeline to evaluate: an estimator family and its (and the preprocessing's) values."""

    family: str
    params: Mapping[str, Any]

    @property
    def key(self) -> str:
        return self.family + json.dumps(dict(sorted(self.params.items())), default=str)

    def label(self) -> str:
        shown = ", ".join(f"{k.removeprefix('prep.')}={v}" for k, v in self.params.items())
        return f"{self.family}({shown})"

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Config:
        return cls(str(data["family"]), dict(data["params"]))

    def unit(self, task: str) -> np.ndarray:
        space = FAMILIES[self.family].space(task)
        return np.array([p.to_unit(self.params.get(p.name, p.default)) for p in space])


def _preprocessor(plan: FeaturePlan, scaler: str, categorical: str, n_rows: int) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import (
        OneHotEncoder,
        OrdinalEncoder,
        QuantileTransformer,
        StandardScaler,
    )

    from hub_kernel.models.features import AsFloat, AsText, DatetimeParts

    def scale() -> list[tuple[str, Any]]:
        if scaler == "standard":
            return [("scale", StandardScaler())]
        if scaler == "quantile":
            return [("scale", QuantileTransformer(output_distribution="normal",
                                                  n_quantiles=max(10, min(1000, n_rows))))]
        return []

    parts: list[tuple[str, Any, list[str]]] = []
    if plan.numeric:
        parts.append(("numeric", Pipeline([
            ("float", AsFloat()),
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            *scale()]), list(plan.numeric)))
    if plan.categorical:
        encoder = (OneHotEncoder(handle_unknown="ignore", sparse_output=False, max_categories=50)
                   if categorical == "onehot" else
                   OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1))
        parts.append(("categorical", Pipeline([
            ("text", AsText()),
            ("impute", SimpleImputer(strategy="most_frequent", missing_values=np.nan,
                                     keep_empty_features=True)),
            ("encode", encoder)]), list(plan.categorical)))
    if plan.datetime:
        parts.append(("datetime", Pipeline([
            ("parts", DatetimeParts()),
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            *scale()]), list(plan.datetime)))
    return ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0)


def _estimator(config: Config, task: str, *, seed: int, n_jobs: int, n_features: int,
               n_rows: int) -> Any:
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


def build_pipeline(config: Config, plan: FeaturePlan, task: str, *, seed: int = 0,
                   n_jobs: int = 1, n_rows: int = 1000, n_features: int | None = None) -> Any:
    """The scikit-learn ``Pipeline`` (preprocessing, optional selection, estimator) of
    ``config`` for data sorted by ``plan``. ``n_features`` is the width after preprocessing
    (for the SVM's gamma); ``n_rows`` the training rows (for quantiles and k)."""
    from sklearn.feature_selection import SelectPercentile, f_classif, f_regression
    from sklearn.pipeline import Pipeline

    params = config.params
    scaled = config.family in ("linear", "svm", "knn")
    steps: list[tuple[str, Any]] = [("preprocess", _preprocessor(
        plan, scaler=str(params.get("prep.scaler", "standard")) if scaled else "none",
        categorical="onehot" if scaled else "ordinal", n_rows=n_rows))]
    select = int(params.get("prep.select", 100))
    width = n_features if n_features is not None else len(plan.features)
    if select < 100:
        steps.append(("select", SelectPercentile(
            f_classif if task == "classification" else f_regression, percentile=select)))
        width = max(1, round(width * select / 100))
    steps.append(("model", _estimator(config, task, seed=seed, n_jobs=n_jobs, n_features=width,
                                      n_rows=n_rows)))
    return Pipeline(steps)


class FoldEnsemble:
    """The models fitted on the cross-validation folds, predicting together (averaged
    probabilities or values, or a vote): the best model so far, available without a refit."""

    def __init__(self, estimators: Sequence[Any], task: str) -> None:
        self.estimators = list(estimators)
        self.task = task
        if task == "classification":
            self.classes_ = np.unique(np.concatenate([np.asarray(e.classes_)
                                                      for e in self.estimators]))

    def predict(self, X: Any) -> np.ndarray:
        if self.task == "regression":
            return np.mean([e.predict(X) for e in self.estimators], axis=0)
        if all(hasattr(e, "predict_proba") for e in self.estimators):
            return np.asarray(self.classes_[np.argmax(self.predict_proba(X), axis=1)])
        votes = np.zeros((len(X), len(self.classes_)))
        for estimator in self.estimators:
            index = np.searchsorted(self.classes_, estimator.predict(X))
            votes[np.arange(len(X)), index] += 1
        return np.asarray(self.classes_[np.argmax(votes, axis=1)])

    def predict_proba(self, X: Any) -> np.ndarray:
        total = np.zeros((len(X), len(self.classes_)))
        for estimator in self.estimators:
            columns = np.searchsorted(self.classes_, estimator.classes_)
            total[:, columns] += estimator.predict_proba(X)
        return total / len(self.estimators)

    def class_scores(self, X: Any, classes: np.ndarray) -> np.ndarray:
        """Per row and class of ``classes``: mean probability, or share of votes for models
        without probabilities."""
        return np.mean([class_scores(e, X, classes) for e in self.estimators], axis=0)

    def __repr__(self) -> str:
        return f"FoldEnsemble({len(self.estimators)} fold models)"


def class_scores(model: Any, X: Any, classes: np.ndarray) -> np.ndarray:
    """A fitted classifier's probabilities over ``classes`` (a one-hot vote if it has none)."""
    out = np.zeros((len(X), len(classes)))
    if hasattr(model, "predict_proba"):
        out[:, np.searchsorted(classes, model.classes_)] = model.predict_proba(X)
    else:
        out[np.arange(len(X)), np.searchsorted(classes, model.predict(X))] = 1.0
    return out


class WeightedEnsemble:
    """Several configurations' fold models predicting together, with weights chosen by
    greedy ensemble selection on their out-of-fold predictions (Caruana et al., 2004)."""

    def __init__(self, members: Sequence[tuple[float, FoldEnsemble]], task: str,
                 classes: np.ndarray | None = None) -> None:
        self.members = list(members)
        self.task = task
        if classes is not None:
            self.classes_ = classes

    def predict(self, X: Any) -> np.ndarray:
        if self.task == "regression":
            return np.asarray(sum(w * m.predict(X) for w, m in self.members))
        scores = sum(w * m.class_scores(X, self.classes_) for w, m in self.members)
        return np.asarray(self.classes_[np.argmax(scores, axis=1)])

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.asarray(sum(w * m.class_scores(X, self.classes_) for w, m in self.members))

    def __repr__(self) -> str:
        return f"WeightedEnsemble({len(self.members)} configurations)"


def _metric_function(metric: str, task: str) -> Callable[[np.ndarray, np.ndarray], float] | None:
    """``metric`` computed from (targets, predictions), for metrics that need only labels or
    values; None for the others (e.g. roc_auc), which then use the scorer and no ensemble."""
    from sklearn import metrics

    def accuracy(t: Any, p: Any) -> float:  # sklearn's checks cost more than the sum
        return float(np.mean(np.asarray(t) == np.asarray(p)))

    def r2(t: Any, p: Any) -> float:
        t, p = np.asarray(t, dtype="float64"), np.asarray(p, dtype="float64")
        total = float(np.sum((t - t.mean()) ** 2))
        return 1.0 - float(np.sum((t - p) ** 2)) / total if total > 0 else 0.0

    label_metrics: dict[str, Callable[[Any, Any], float]] = {
        "accuracy": accuracy,
        "balanced_accuracy": metrics.balanced_accuracy_score,
        "f1_macro": lambda t, p: metrics.f1_score(t, p, average="macro"),
        "f1_weighted": lambda t, p: metrics.f1_score(t, p, average="weighted"),
        "f1_micro": lambda t, p: metrics.f1_score(t, p, average="micro"),
    }
    value_metrics: dict[str, Callable[[Any, Any], float]] = {
        "r2": r2,
        "neg_mean_absolute_error": lambda t, p: -metrics.mean_absolute_error(t, p),
        "neg_mean_squared_error": lambda t, p: -metrics.mean_squared_error(t, p),
        "neg_root_mean_squared_error": lambda t, p: -metrics.root_mean_squared_error(t, p),
        "neg_median_absolute_error": lambda t, p: -metrics.median_absolute_error(t, p),
    }
    if task == "classification" and metric in label_metrics:
        return label_metrics[metric]
    if task == "regression" and metric in value_metrics:
        return value_metrics[metric]
    return None


# ============================================================================================
# Meta-features and the meta-knowledge store
# ============================================================================================
N_META = 14


def search_features(X: pd.DataFrame, y: Any, task: str,
                    profile: DatasetProfile | None = None) -> np.ndarray:
    """Meta-features of a supervised dataset, each in [0, 1]: the profile's (size, kinds,
    missingness, cardinality), then task, number of classes, class balance, skew, size of
    the problem and width relative to rows."""
    from hub_kernel.agents.controller import profile_features
    from hub_kernel.data.profile import profile_dataset

    profile = profile if profile is not None else profile_dataset(X)
    base = np.clip(profile_features(profile), 0.0, 1.0)
    n, p = X.shape
    if task == "classification":
        counts = pd.Series(np.asarray(y)).value_counts()
        n_classes, balance = len(counts), float(counts.min() / counts.max())
    else:
        n_classes, balance = 0, 1.0
    skews = [abs(float(c.stats.get("skew", 0.0))) for c in profile.of_kind("numeric")]
    skews = [v for v in skews if math.isfinite(v)]  # a constant column has no skew
    extras = [float(task == "classification"),
              min(math.log2(max(n_classes, 1)) / 5, 1.0), balance,
              min(float(np.mean(skews)) / 5, 1.0) if skews else 0.0,
              min(math.log10(max(n * p, 1)) / 8, 1.0), min(p / max(n, 1), 1.0)]
    return np.nan_to_num(np.concatenate([base, extras]), nan=0.0, posinf=1.0, neginf=0.0)


def meta_similarity(a: np.ndarray, b: np.ndarray, bandwidth: float = 0.4) -> float:
    """Similarity in (0, 1] of two datasets' meta-features (a Gaussian kernel)."""
    distance2 = float(np.sum((np.asarray(a) - np.asarray(b)) ** 2))
    return math.exp(-distance2 / (2 * bandwidth ** 2))


@dataclass
class DatasetMemory:
    """What the store keeps of one searched dataset."""

    key: str
    name: str
    task: str
    metric: str
    features: list[float]
    baseline: float
    best_score: float
    top: list[dict[str, Any]]  # {"config": ..., "score": ..., "seconds": ...}, best first
    evaluations: list[dict[str, Any]]  # {"family", "score", "seconds"} in search order
    updated: str = ""

    def relative(self, score: float) -> float:
        """A score on this dataset as a share of the way from the baseline to the best."""
        span = self.best_score - self.baseline
        return float(np.clip((score - self.baseline) / span, 0.0, 1.0)) if span > 0 else 0.0


class MetaStore:
    """Searched datasets' meta-features, best configurations and evaluations (JSON under
    ``$HUB_HOME/agents/strategy/meta.json``); ``similar`` finds the nearest ones."""

    MAX_TOP = 20
    MAX_EVALUATIONS = 400

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else strategy_dir() / "meta.json"
        self._lock = threading.Lock()

    def load(self) -> dict[str, DatasetMemory]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            logger.warning("meta-knowledge %s unreadable (%s); starting without it",
                           self.path, exc)
            return {}
        entries = data.get("datasets", {}) if isinstance(data, dict) else {}
        known: dict[str, DatasetMemory] = {}
        for key, value in (entries.items() if isinstance(entries, dict) else ()):
            try:  # one bad entry (an older hub, a hand edit) must not stop every search
                known[key] = DatasetMemory(**value)
            except (TypeError, ValueError) as exc:
                logger.warning("meta-knowledge %s: entry %r skipped (%s)", self.path, key, exc)
        return known

    def remember(self, memory: DatasetMemory) -> None:
        """Add or replace what is known of one dataset."""
        memory.top = memory.top[: self.MAX_TOP]
        memory.evaluations = memory.evaluations[-self.MAX_EVALUATIONS:]
        memory.updated = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            known = self.load()
            known[memory.key] = memory
            _write_json(self.path, {"version": 1,
                                    "datasets": {k: v.__dict__ for k, v in known.items()}})

    def similar(self, features: np.ndarray, task: str, *, exclude: Iterable[str] = (),
                k: int = 5, min_similarity: float = 0.05) -> list[tuple[DatasetMemory, float]]:
        """The ``k`` most similar datasets of the same task, with their similarity."""
        skip = set(exclude)
        found = [(m, meta_similarity(features, np.asarray(m.features)))
                 for m in self.load().values() if m.task == task and m.key not in skip
                 and m.name not in skip
                 and np.shape(m.features) == np.shape(features)]  # other meta-features: skip
        found = [pair for pair in found if pair[1] >= min_similarity]
        found.sort(key=lambda pair: -pair[1])
        return found[:k]


# ============================================================================================
# The search
# ============================================================================================
@dataclass
class Evaluation:
    """One evaluated configuration: its cross-validated score and why it was chosen."""

    index: int
    config: Config
    score: float
    std: float
    seconds: float
    fit_seconds: float  # mean fit time of one fold
    expected: float | None
    explanation: str
    propensity: float
    finished_at: float  # seconds since the search started
    source: str  # "warm", "default", "bandit"
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "config": self.config.to_dict(), "label":
                self.config.label(), "score": self.score, "std": self.std,
                "seconds": self.seconds, "fit_seconds": self.fit_seconds,
                "expected": self.expected, "explanation": self.explanation,
                "propensity": self.propensity, "finished_at": self.finished_at,
                "source": self.source, "run_id": self.run_id}


@dataclass
class SearchResult:
    """What a search found: the best configuration, its model, and every evaluation."""

    task: str
    metric: str
    best: Evaluation
    model: Any
    evaluations: list[Evaluation]
    baseline_score: float
    seconds: float
    stop_reason: str
    refit: bool
    target: str
    features: tuple[str, ...]
    warm_start: list[tuple[str, float]] = field(default_factory=list)
    parent_run_id: str | None = None
    notes: tuple[str, ...] = ()
    #: (seconds since the start, best score) at each improvement
    trajectory: list[tuple[float, float]] = field(default_factory=list)
    #: the dataset's meta-features (``search_features``), for warm starts
    meta_features: tuple[float, ...] = ()
    #: (evaluation index, weight) of the configurations combined in ``model`` (empty: the
    #: best single configuration), and the out-of-fold score of that combination
    ensemble: list[tuple[int, float]] = field(default_factory=list)
    ensemble_score: float | None = None

    @property
    def final_score(self) -> float:
        """The cross-validated score of ``model``: the ensemble's, else the best's."""
        return self.ensemble_score if self.ensemble_score is not None else self.best.score

    @property
    def best_score(self) -> float:
        return self.best.score

    def leaderboard(self, top: int | None = None) -> pd.DataFrame:
        """Evaluations, best first: rank, configuration, family, score, std, seconds, why."""
        rows = [{"rank": 0, "configuration": e.config.label(), "family": e.config.family,
                 "score": e.score, "std": e.std, "seconds": e.seconds, "expected": e.expected,
                 "source": e.source, "propensity": e.propensity, "evaluation": e.index}
                for e in sorted(self.evaluations, key=lambda e: (-e.score, e.index))]
        frame = pd.DataFrame(rows)
        if not frame.empty:
            frame["rank"] = np.arange(1, len(frame) + 1)
        return frame.head(top) if top else frame

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.model.predict(X))

    def summary(self) -> str:
        combined = (f"; an ensemble of {len(self.ensemble)} configurations scores "
                    f"{self.ensemble_score:.4f}" if self.ensemble else "")
        return (f"best {self.best.config.label()}: {self.metric} {self.best.score:.4f} "
                f"(baseline {self.baseline_score:.4f}) after {len(self.evaluations)} "
                f"evaluations in {self.seconds:.1f} s{combined}; stopped: {self.stop_reason}")


class _Tracker:
    """MLflow runs of one search: a parent run and one child run per evaluation."""

    def __init__(self, tracking_uri: str | None, name: str) -> None:
        from hub_kernel.models.tracking import TrackingStore, process_marker

        self.store = TrackingStore.from_settings(tracking_uri).open()
        self.client = self.store.client
        tags = {"hub.agent": AGENT, "hub.kind": "strategy_search", "hub.dataset": name,
                "mlflow.runName": f"strategy search {name}"[:250], **process_marker()}
        run = self.client.create_run(self.store.experiment_id, tags=tags)
        self.parent_id: str = run.info.run_id

    def params(self, params: Mapping[str, Any]) -> None:
        self._log(self.parent_id, params=params)

    def _log(self, run_id: str, *, params: Mapping[str, Any] | None = None,
             metrics: Mapping[str, float] | None = None,
             tags: Mapping[str, str] | None = None) -> None:
        from mlflow.entities import Metric, Param, RunTag

        stamp = int(time.time() * 1000)
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), stamp, 0) for k, v in (metrics or {}).items()
                     if v is not None and math.isfinite(float(v))],
            params=[Param(k, str(v)[:500]) for k, v in (params or {}).items()],
            tags=[RunTag(k, str(v)[:5000]) for k, v in (tags or {}).items()])

    def child(self, evaluation: Evaluation) -> str | None:
        try:
            run = self.client.create_run(
                self.store.experiment_id,
                tags={"mlflow.parentRunId": self.parent_id, "hub.agent": AGENT,
                      "mlflow.runName": f"{evaluation.index:03d} {evaluation.config.label()}"
                      [:250]})
            run_id: str = run.info.run_id
            params = {"family": evaluation.config.family, "source": evaluation.source,
                      **{f"param.{k}" if not k.startswith("prep.") else k: v
                         for k, v in evaluation.config.params.items()}}
            self._log(run_id, params=params,
                      metrics={"cv_score": evaluation.score, "cv_std": evaluation.std,
                               "seconds": evaluation.seconds,
                               "fit_seconds": evaluation.fit_seconds,
                               "propensity": evaluation.propensity,
                               **({"expected_score": evaluation.expected}
                                  if evaluation.expected is not None else {})},
                      tags={"hub.explanation": evaluation.explanation,
                            "hub.configuration": evaluation.config.label()})
            self.client.set_terminated(run_id, status="FINISHED")
            return run_id
        except Exception as exc:  # the search goes on; the run is missing from the record
            logger.warning("could not log evaluation %d to MLflow: %s", evaluation.index, exc)
            return None

    def finish(self, result: SearchResult, status: str = "FINISHED") -> None:
        try:
            self._log(self.parent_id,
                      metrics={"best_score": result.best.score,
                               "baseline_score": result.baseline_score,
                               "n_evaluations": len(result.evaluations),
                               "seconds": result.seconds},
                      tags={"hub.best_configuration": result.best.config.label(),
                            "hub.stop_reason": result.stop_reason,
                            "hub.warm_start": ", ".join(f"{n} ({s:.2f})"
                                                        for n, s in result.warm_start) or "-"})
            self.client.log_dict(self.parent_id, {
                "metric": result.metric, "task": result.task, "stop_reason": result.stop_reason,
                "best": result.best.to_dict(), "baseline_score": result.baseline_score,
                "evaluations": [e.to_dict() for e in result.evaluations]},
                "hub/strategy_search.json")
            self.client.set_terminated(self.parent_id, status=status)
        except Exception as exc:
            logger.warning("could not close the MLflow run of the search: %s", exc)

    def fail(self) -> None:
        try:
            self.client.set_terminated(self.parent_id, status="FAILED")
        except Exception as exc:
            logger.warning("could not mark the MLflow run of the search failed: %s", exc)


@dataclass(frozen=True)
class _Planned:
    """A configuration of the portfolio, with why it is there."""

    config: Config
    why: str
    source: str  # "warm" or "default"
    quality: float | None  # its share of the way from baseline to best where it comes from


#: the parameter that sets how much work a configuration is (scaled down to fit the time)
_SIZE_PARAM = {"hgb": "max_iter", "rf": "n_estimators", "et": "n_estimators"}


class _OutOfTime(Exception):
    """An incremental fit ran past its deadline; ``fraction`` of it was done."""

    def __init__(self, fraction: float) -> None:
        super().__init__(f"out of time after {fraction:.0%} of the fit")
        self.fraction = fraction


def _fit_in_steps(model: Any, X: pd.DataFrame, y: np.ndarray, size_param: str,
                  deadline: float, stop: threading.Event, steps: int = 6) -> None:
    """Fit a pipeline whose last step grows by ``size_param`` (trees, boosting iterations)
    in ``steps`` warm-started increments, giving up (``_OutOfTime``) past ``deadline``: an
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
            raise _OutOfTime(done / total)
        done = min(total, done + increment)


def work(config: Config) -> float:
    """Relative cost of a configuration within its family (seconds ~ rate x work)."""
    p = config.params
    if config.family == "hgb":
        return float(p["max_iter"]) * (0.5 + float(p["max_leaf_nodes"]) / 62)
    if config.family in ("rf", "et"):
        return float(p["n_estimators"]) * (0.3 + float(p["max_features"])) / (
            0.5 + float(p["min_samples_leaf"]) / 4)
    return 1.0


@dataclass
class _FamilyState:
    evaluations: list[Evaluation] = field(default_factory=list)
    stall: int = 0  # evaluations since the family last improved its best
    rates: list[float] = field(default_factory=list)  # seconds per unit of ``work``

    @property
    def best(self) -> Evaluation | None:
        return max(self.evaluations, key=lambda e: e.score) if self.evaluations else None

    def cost(self) -> float:
        return float(np.median([e.seconds for e in self.evaluations])) if self.evaluations \
            else 0.0

    def estimate(self, config: Config) -> float | None:
        """Seconds ``config`` should take, from what this family's evaluations took."""
        return float(np.median(self.rates)) * work(config) if self.rates else None


class PipelineSearch:
    """Online search over preprocessing + estimator + hyperparameters within a time budget.

    Estimator-style parameters, stored unchanged:

    - ``budget``: wall-clock seconds for the whole search, final refit included;
    - ``metric``: a scikit-learn scorer name (default ``f1_macro`` for classification and
      ``r2`` for regression, as the trainer); higher is better;
    - ``cv``: folds of the inner cross-validation (default 5 up to 2,000 rows, else 3);
    - ``n_jobs``: cores to use (folds in parallel, or the estimator's own threads);
    - ``max_evaluations``: stop after this many configurations (``None``: only the budget);
    - ``families``: estimator families allowed (default all of ``FAMILIES``);
    - ``warm_start``: ``MetaStore`` to start from (``True``: the default one under HUB_HOME,
      ``False``/``None``: cold); ``exclude``: dataset keys or names it must not use;
    - ``policy``: a ``StrategyPolicy`` whose preference over families is mixed into the bandit;
    - ``track``: log a parent MLflow run and one child run per configuration;
    - ``audit``: an ``AuditLog`` recording every choice (``True``: the default one);
    - ``refit``: refit the best configuration on all rows at the end when the budget allows;
    - ``early_stop``: stop before the budget when no family's optimistic bound can improve;
    - ``ensemble``: at the end, combine the best configurations (greedy selection on their
      out-of-fold predictions) when that scores better than the best one alone;
    - ``callback(evaluation, search)``: called after each evaluation.

    ``best_model_`` is the best model so far at any moment (also from another thread while
    ``fit`` runs, e.g. ``fit_in_background``); ``stop()`` ends the search after the current
    evaluation.
    """

    def __init__(self, *, budget: float = 10.0, metric: str | None = None, cv: int | None = None,
                 n_jobs: int = 1, random_state: int = 0, max_evaluations: int | None = None,
                 families: Sequence[str] | None = None, warm_start: MetaStore | bool | None = True,
                 exclude: Sequence[str] = (), policy: StrategyPolicy | None = None,
                 track: bool = False, tracking_uri: str | None = None,
                 audit: AuditLog | bool | None = None, refit: bool = True,
                 early_stop: bool = False, ensemble: bool = True, name: str = "dataset",
                 callback: Callable[[Evaluation, PipelineSearch], None] | None = None) -> None:
        self.budget = budget
        self.metric = metric
        self.cv = cv
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.max_evaluations = max_evaluations
        self.families = families
        self.warm_start = warm_start
        self.exclude = exclude
        self.policy = policy
        self.track = track
        self.tracking_uri = tracking_uri
        self.audit = audit
        self.refit = refit
        self.early_stop = early_stop
        self.ensemble = ensemble
        self.name = name
        self.callback = callback
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.best_model_: Any = None
        self.best_: Evaluation | None = None
        self.evaluations_: list[Evaluation] = []
        self.result_: SearchResult | None = None

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        names = ("budget", "metric", "cv", "n_jobs", "random_state", "max_evaluations",
                 "families", "warm_start", "exclude", "policy", "track", "tracking_uri",
                 "audit", "refit", "early_stop", "ensemble", "name", "callback")
        return {n: getattr(self, n) for n in names}

    def __repr__(self) -> str:
        return f"PipelineSearch(budget={self.budget}, metric={self.metric!r}, n_jobs={self.n_jobs})"

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
        return _SearchRun(self, X, y, model_type, profile).execute()

    def _publish(self, evaluation: Evaluation, model: Any | None) -> None:
        with self._lock:
            self.evaluations_.append(evaluation)
            if model is not None:
                self.best_, self.best_model_ = evaluation, model


def _scorer_for(metric: str) -> Any:
    from sklearn.metrics import get_scorer

    try:
        return get_scorer(metric)
    except ValueError as exc:
        raise ModelError(f"unknown metric {metric!r}: use a scikit-learn scorer name such as "
                         "accuracy, f1_macro, roc_auc, r2 or neg_root_mean_squared_error"
                         ) from exc


class _SearchRun:
    """One execution of a ``PipelineSearch`` (the state of the loop)."""

    SAFETY = 0.03  # share of the budget kept for bookkeeping
    KEEP_PER_FAMILY = 3  # evaluations per family whose out-of-fold predictions are kept
    ROUNDS = 25  # rounds of greedy ensemble selection
    MAX_SHARE = 0.4  # most of the budget one evaluation may take
    PORTFOLIO_WARM = 6

    def __init__(self, search: PipelineSearch, X: Any, y: Any, model_type: str,
                 profile: DatasetProfile | None) -> None:
        self.search = search
        self.started = time.monotonic()
        budget = float(search.budget)
        if not math.isfinite(budget) or budget <= 0:
            raise ModelError(f"budget must be a positive number of seconds, not {budget!r}")
        self.deadline = self.started + budget
        self.X_raw, self.y_raw, self.model_type, self.profile = X, y, model_type, profile
        self.rng = np.random.default_rng(search.random_state)
        self.families: dict[str, _FamilyState] = {}
        self.evaluations: list[Evaluation] = []
        self.seen: set[str] = set()
        self.best: Evaluation | None = None
        self.best_estimators: list[Any] = []
        self.trajectory: list[tuple[float, float]] = []
        self.tracker: _Tracker | None = None
        self.audit: AuditLog | None = None
        self.notes: list[str] = []
        self.failures: dict[str, int] = {}
        self.queue: list[_Planned] = []
        self.projected: float | None = None
        self.last_oof: np.ndarray | None = None
        self.kept: dict[int, tuple[np.ndarray, FoldEnsemble]] = {}
        self.warm: list[tuple[str, float]] = []
        self.family_prior: dict[str, float] = {}

    # -- helpers -------------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def _record(self, action: str, explanation: str, *, propensity: float | None = None,
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
        from hub_kernel.models.training import PRIMARY_METRIC

        s = self.search
        rows = len(self.X_raw) if hasattr(self.X_raw, "__len__") else 0
        folds = s.cv if s.cv is not None else (5 if rows <= 2000 else 3)
        prepared = prepare_xy(self.X_raw, self.y_raw,
                                         self.model_type,  # type: ignore[arg-type]
                                         None, folds)
        self.X, self.y, self.task = prepared.X, np.asarray(prepared.y), prepared.task
        self.plan, self.folds, self.target = prepared.plan, prepared.folds, prepared.target
        self.notes.extend(prepared.notes)
        self.metric = s.metric or PRIMARY_METRIC[self.task]
        self.scorer = _scorer_for(self.metric)
        self.metric_fn = _metric_function(self.metric, self.task)
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
            self.families[family] = _FamilyState()
        self.width = self._width()
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
                "n_jobs": s.n_jobs, "target": self.target})

    def _width(self) -> dict[str, int]:
        """Columns after each preprocessing (the SVM's gamma is relative to it)."""
        sample = self.X.iloc[: min(len(self.X), 500)]
        widths = {}
        for categorical in ("onehot", "ordinal"):
            try:
                pre = _preprocessor(self.plan, "none", categorical, len(sample))
                widths[categorical] = int(pre.fit_transform(sample).shape[1])
            except Exception:  # a failure here shows again, explained, in the evaluation
                widths[categorical] = len(self.plan.features)
        return widths

    def baseline(self) -> float:
        from sklearn.dummy import DummyClassifier, DummyRegressor

        dummy = (DummyClassifier(strategy="most_frequent") if self.task == "classification"
                 else DummyRegressor())
        scores = []
        for train, test in self.splits:
            model = dummy.fit(self.X.iloc[train], self.y[train])
            scores.append(float(self.scorer(model, self.X.iloc[test], self.y[test])))
        return float(np.mean(scores))

    # -- portfolio ------------------------------------------------------------------------------
    def portfolio(self) -> list[_Planned]:
        """Configurations to evaluate first: the best ones of similar datasets, then each
        family's defaults (families that did well on similar datasets first)."""
        queue: list[_Planned] = []
        s = self.search
        store = (MetaStore() if s.warm_start is True else
                 s.warm_start if isinstance(s.warm_start, MetaStore) else None)
        self.family_prior = {}
        self.warm = []
        if store is not None:
            similar = store.similar(self.features, self.task, exclude=s.exclude)
            self.warm = [(m.name, sim) for m, sim in similar]
            candidates: dict[str, tuple[float, Config, str, float, float, float]] = {}
            prior_sum: dict[str, float] = {}
            weight_sum = 0.0
            for memory, sim in similar:
                weight_sum += sim
                best_by_family: dict[str, float] = {}
                for item in memory.top:
                    config = Config.from_dict(item["config"])
                    if config.family not in self.families:
                        continue
                    quality = memory.relative(float(item["score"]))
                    best_by_family[config.family] = max(best_by_family.get(config.family, 0.0),
                                                        quality)
                    value = sim * quality
                    if config.key not in candidates or candidates[config.key][0] < value:
                        candidates[config.key] = (value, config, memory.name,
                                                  float(item["score"]), sim, quality)
                for family in self.families:
                    prior_sum[family] = prior_sum.get(family, 0.0) + sim * best_by_family.get(
                        family, 0.0)
            if weight_sum > 0:
                self.family_prior = {f: v / weight_sum for f, v in prior_sum.items()}
            ranked = sorted(candidates.values(), key=lambda c: -c[0])[: self.PORTFOLIO_WARM]
            for _value, config, source_name, score, sim, quality in ranked:
                queue.append(_Planned(config, f"worked on the similar dataset {source_name} "
                                      f"(similarity {sim:.2f}): it scored {score:.4f} there, "
                                      f"{100 * quality:.0f}% of the way from its baseline to "
                                      "its best", "warm", quality))
            if similar:
                self._record("warm_start", "starting from what worked on similar datasets: "
                             + "; ".join(f"{m.name} (similarity {sim:.2f}, best "
                                         f"{m.best_score:.4f} {m.metric})" for m, sim in similar),
                             observation={"features": self.features.round(4).tolist()})
        order = sorted(self.families, key=lambda f: (-self.family_prior.get(f, 0.0),
                                                     COLD_ORDER.index(f)
                                                     if f in COLD_ORDER else 99))
        for family in order:
            config = Config(family, FAMILIES[family].defaults(self.task, self.width["ordinal"]))
            why = f"the default {FAMILIES[family].title}: {FAMILIES[family].description}"
            if family in self.family_prior:
                why += (f"; on similar datasets this family reached "
                        f"{100 * self.family_prior[family]:.0f}% of the way from baseline "
                        "to best")
            queue.append(_Planned(config, why, "default", self.family_prior.get(family)))
        return queue

    def expected_for(self, planned: _Planned) -> float | None:
        """What a portfolio configuration should score here: as far from the baseline to
        the best so far as it got where it comes from (unknown before any evaluation)."""
        if self.best is None or planned.quality is None:
            return None
        return self.baseline_score + planned.quality * (self.best.score - self.baseline_score)

    # -- the bandit over families ---------------------------------------------------------------
    def choose(self) -> tuple[Config, str, float | None, float] | None:
        """The next configuration by the bandit over families and a Bayesian step inside the
        chosen one: (config, explanation, expected score, propensity); None to stop."""
        assert self.best is not None
        best = self.best.score
        spread_floor = max(1e-4, 0.01 * abs(best - self.baseline_score))
        time_left = self.remaining() - self.reserve()
        names, logits, bounds, costs = [], [], {}, {}
        policy_prior = self.policy_prior()
        for family, state in self.families.items():
            family_best = state.best
            if family_best is None:
                continue
            cost = max(state.cost(), 0.01)
            if min(e.seconds for e in state.evaluations) > time_left:
                continue
            scores = np.array([e.score for e in state.evaluations])
            spread = max(float(scores.std()) if len(scores) > 1 else 2 * spread_floor,
                         spread_floor)
            # optimism shrinks as the family keeps failing to improve (diminishing returns)
            bound = family_best.score + 1.5 * spread / math.sqrt(len(scores)) * 0.85 ** min(
                state.stall, 30)
            gain = max(bound - best, 0.0) + 1e-3 * spread_floor
            prior = 0.5 + 0.5 * self.family_prior.get(family, 0.5)
            if policy_prior is not None:
                prior *= 0.5 + policy_prior.get(family, 0.0) * len(self.families) / 2
            names.append(family)
            logits.append(math.log(gain) - 0.5 * math.log(cost) + math.log(prior))
            bounds[family], costs[family] = bound, cost
        while names:
            weights = np.exp(np.array(logits) - max(logits))
            probabilities = weights / weights.sum()
            pick = int(self.rng.choice(len(names), p=probabilities))
            family, propensity = names[pick], float(probabilities[pick])
            config, how, expected = self.propose(family)
            if config is not None:
                break
            del names[pick], logits[pick]  # nothing new to try there
        else:
            return None
        state = self.families[family]
        family_best = state.best
        assert family_best is not None
        explanation = (
            f"{FAMILIES[family].title}: best {self.metric} {family_best.score:.4f} in "
            f"{len(state.evaluations)} evaluations, optimistic bound {bounds[family]:.4f} "
            f"against the overall best {best:.4f}, about {costs[family]:.2f} s per evaluation; "
            f"chosen with probability {propensity:.2f} among "
            + ", ".join(f"{n} {p:.2f}" for n, p in zip(names, probabilities, strict=True))
            + f". Next configuration by {how}"
            + (f", expected {self.metric} {expected:.4f}" if expected is not None else ""))
        return config, explanation, expected, propensity

    def policy_prior(self) -> dict[str, float] | None:
        policy = self.search.policy
        if policy is None:
            return None
        try:
            from hub_kernel.agents.strategy.env import live_observation

            obs = live_observation(self.features, self.families, self.best_score_or_baseline(),
                                   self.baseline_score, self.elapsed(), float(self.search.budget))
            probs = policy.action_probabilities(obs)
        except Exception as exc:  # the bandit decides alone
            logger.warning("the strategy policy could not be asked (%s); ignoring it", exc)
            return None
        from hub_kernel.agents.strategy.env import FAMILY_ORDER

        total = sum(float(probs[i]) for i, f in enumerate(FAMILY_ORDER) if f in self.families)
        if total <= 0:
            return None
        return {f: float(probs[i]) / total for i, f in enumerate(FAMILY_ORDER)
                if f in self.families}

    def best_score_or_baseline(self) -> float:
        return self.best.score if self.best is not None else self.baseline_score

    def propose(self, family: str) -> tuple[Config | None, str, float | None]:
        """A new configuration of ``family``: a Gaussian-process expected-improvement step
        once it has a few evaluations, else a local step around its best or a random one."""
        state = self.families[family]
        space = FAMILIES[family].space(self.task)
        best = state.best
        assert best is not None
        center = best.config.unit(self.task)
        sigma = max(0.03, 0.25 * 0.8 ** state.stall)
        local = np.clip(center + self.rng.normal(0, sigma, size=(24, len(space))), 0, 1)
        uniform = self.rng.random((24, len(space)))
        candidates = np.vstack([local, uniform])
        configs = [self._config(family, space, u) for u in candidates]
        fresh = [i for i, c in enumerate(configs) if c.key not in self.seen]
        if not fresh:
            return None, "", None
        if len(state.evaluations) >= 4:
            try:
                chosen, mean = self._expected_improvement(state, candidates[fresh])
                index = fresh[chosen]
                origin = "local" if index < len(local) else "random"
                return (configs[index], f"a Bayesian step (Gaussian process, highest expected "
                        f"improvement among {len(fresh)} {origin}/random candidates)", mean)
            except Exception as exc:  # too few distinct points, numerical trouble
                logger.debug("GP step failed for %s: %s", family, exc)
        if self.rng.random() < 0.75:
            local_fresh = [i for i in fresh if i < len(local)] or fresh
            return configs[local_fresh[0]], (f"a local step around its best (step "
                                             f"{sigma:.2f})"), best.score
        random_fresh = [i for i in fresh if i >= len(local)] or fresh
        return configs[random_fresh[0]], "a random draw (exploring the space)", None

    def _config(self, family: str, space: Sequence[Param], unit: np.ndarray) -> Config:
        return Config(family, {p.name: p.from_unit(u) for p, u in zip(space, unit, strict=True)})

    def _expected_improvement(self, state: _FamilyState, candidates: np.ndarray
                              ) -> tuple[int, float]:
        from scipy.stats import norm
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        points = np.array([e.config.unit(self.task) for e in state.evaluations])
        scores = np.array([e.score for e in state.evaluations])
        kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
            length_scale=np.full(points.shape[1], 0.3), length_scale_bounds=(0.02, 10.0),
            nu=2.5) + WhiteKernel(1e-3, (1e-6, 1e-1))
        gp = GaussianProcessRegressor(kernel, normalize_y=True, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gp.fit(points, scores)
            mean, std = gp.predict(candidates, return_std=True)
        best = float(scores.max())
        std = np.maximum(std, 1e-9)
        z = (mean - best - 1e-4) / std
        ei = (mean - best - 1e-4) * norm.cdf(z) + std * norm.pdf(z)
        chosen = int(np.argmax(ei))
        return chosen, float(mean[chosen])

    # -- evaluation -----------------------------------------------------------------------------
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
        width = self.width["onehot" if config.family in ("linear", "svm", "knn") else "ordinal"]
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
            model = build_pipeline(config, self.plan, self.task, seed=self.search.random_state,
                                   n_jobs=inner_jobs, n_rows=len(train), n_features=width)
            started = time.perf_counter()
            if config.family in _SIZE_PARAM:
                _fit_in_steps(model, self.X.iloc[train], self.y[train],
                              _SIZE_PARAM[config.family], cutoff, self.search._stop)
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
                except _OutOfTime as out:
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

    def _fit_in(self, config: Config, seconds: float, estimate: float) -> Config | None:
        """``config`` with less work so that it takes about ``seconds`` (None: impossible)."""
        name = _SIZE_PARAM.get(config.family)
        if name is None or estimate <= 0:
            return None
        space = {p.name: p for p in FAMILIES[config.family].space(self.task)}
        value = int(config.params[name] * 0.8 * seconds / estimate)
        if value < space[name].low:
            return None
        smaller = Config(config.family, {**config.params, name: value})
        return None if smaller.key in self.seen else smaller

    def _cheaper(self, config: Config, projected: float, why: str) -> None:
        """After an evaluation was cut for time, plan a cheaper variant of it next."""
        smaller = self._fit_in(config, self.allowed(), projected)
        self._record(f"cut:{config.family}", f"{config.label()} stopped after its first folds: "
                     f"it would take about {projected:.1f} s, more than the {self.allowed():.1f}"
                     " s one evaluation may take" + (
                         f"; trying {smaller.label()} instead" if smaller else ""))
        if smaller is not None:
            self.queue.insert(0, _Planned(smaller, why + f"; a cheaper variant, as the "
                                          f"original would take about {projected:.1f} s",
                                          "default", None))

    def run_one(self, config: Config, explanation: str, expected: float | None,
                propensity: float, source: str) -> Evaluation | None:
        self.seen.add(config.key)
        family = config.family
        state = self.families[family]
        estimate = state.estimate(config)
        if estimate is not None and estimate > self.allowed():
            smaller = self._fit_in(config, self.allowed(), estimate)
            if smaller is None:
                return None
            explanation += (f"; scaled down to {smaller.params[_SIZE_PARAM[family]]} "
                            f"{_SIZE_PARAM[family]} to fit the time left (about {estimate:.1f} s "
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
            self._record(f"failed:{family}", f"{config.label()} failed ({type(exc).__name__}: "
                         f"{detail}); the search goes on without it"
                         + (f" and without {family}" if dropped else ""),
                         propensity=propensity)
            return None
        if found is None:
            if self.projected is not None:
                state.rates.append(self.projected / work(config))
                self._cheaper(config, self.projected, explanation)
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
        self._record(f"evaluate:{family}", evaluation.explanation + f". Scored "
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
            self.tracker = _Tracker(search.tracking_uri, search.name)
            self.started = time.monotonic()
            self.deadline = self.started + float(search.budget)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.prepare()
                self.baseline_score = self.baseline()
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
        self._record("stop", f"search stopped ({stop_reason}) after {len(self.evaluations)} "
                     f"evaluations in {self.elapsed():.1f} s; best {self.best.config.label()} "
                     f"with {self.metric} {self.best.score:.4f} (baseline "
                     f"{self.baseline_score:.4f})", expected=self.best.score)
        combined, combined_score = self.combine() if search.ensemble else ([], None)
        if combined:
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
            ensemble_score=combined_score)
        if self.tracker is not None:
            self.tracker.finish(result)
        return result

    def combine(self) -> tuple[list[tuple[int, float]], float | None]:
        """Greedy ensemble selection with replacement over the kept evaluations' out-of-fold
        predictions: ([(evaluation index, weight)], score), or ([], None) when no combination
        beats the best configuration alone."""
        assert self.best is not None
        if self.metric_fn is None or len(self.kept) < 2 or self.best.index not in self.kept:
            return [], None
        metric_fn = self.metric_fn
        classes = self.classes

        def value(total: np.ndarray, count: int) -> float:
            mean = total / count
            if classes is not None:
                return float(metric_fn(self.y, classes[np.argmax(mean, axis=1)]))
            return float(metric_fn(self.y, mean))

        chosen = [self.best.index]
        total = self.kept[self.best.index][0].copy()
        best_value = value(total, 1)
        single = best_value
        for _ in range(self.ROUNDS):
            if self.remaining() < self.SAFETY * self.search.budget:
                break
            trials = {i: value(total + oof, len(chosen) + 1) for i, (oof, _) in
                      self.kept.items()}
            pick = max(trials, key=lambda i: (trials[i], -i))
            if trials[pick] < best_value - 1e-12:
                break
            chosen.append(pick)
            total = total + self.kept[pick][0]
            best_value = max(best_value, trials[pick])
        # the prefix of picks with the best value (later ties add nothing)
        values, running = [], self.kept[chosen[0]][0].copy()
        values.append(value(running, 1))
        for k, i in enumerate(chosen[1:], start=2):
            running = running + self.kept[i][0]
            values.append(value(running, k))
        cut = int(np.argmax(values)) + 1
        picks = chosen[:cut]
        if len(set(picks)) < 2 or values[cut - 1] <= single + 1e-9:
            return [], None
        weights = {i: picks.count(i) / len(picks) for i in dict.fromkeys(picks)}
        combined = sorted(weights.items(), key=lambda kv: -kv[1])
        score = float(values[cut - 1])
        self._record("ensemble", "combining " + ", ".join(
            f"{self.evaluations[i - 1].config.label()} (weight {w:.2f})" for i, w in combined)
            + f": out-of-fold {self.metric} {score:.4f} against {single:.4f} for the best "
            "alone (greedy ensemble selection)", expected=score)
        return combined, score

    def ensemble_model(self, combined: list[tuple[int, float]]) -> WeightedEnsemble:
        return WeightedEnsemble([(w, self.kept[i][1]) for i, w in combined], self.task,
                                self.classes)

    def converged(self) -> bool:
        """No improvement in the last ``max(10, 3 x families)`` evaluations."""
        patience = max(10, 3 * len(self.families))
        if self.best is None or len(self.evaluations) < patience:
            return False
        return self.evaluations[-1].index - self.best.index >= patience

    def final_model(self) -> tuple[Any, bool]:
        assert self.best is not None
        ensemble = self.search.best_model_
        if not self.search.refit:
            return ensemble, False
        if self.refit_seconds() > self.remaining():
            self.notes.append("the best configuration was not refit on all rows (no time left):"
                              " its fold models predict together")
            return ensemble, False
        from threadpoolctl import threadpool_limits

        config = self.best.config
        width = self.width["onehot" if config.family in ("linear", "svm", "knn") else "ordinal"]
        model = build_pipeline(config, self.plan, self.task, seed=self.search.random_state,
                               n_jobs=max(1, int(self.search.n_jobs)), n_rows=self.n_rows,
                               n_features=width)
        try:
            with threadpool_limits(limits=self.openmp_threads(), user_api="openmp"):
                model.fit(self.X, self.y)
        except Exception as exc:
            logger.warning("refit of %s failed (%s); using its fold models", config.label(), exc)
            return ensemble, False
        with self.search._lock:
            self.search.best_model_ = model
        return model, True


# ============================================================================================
# (a) Which analyses to show: a contextual bandit
# ============================================================================================
#: the value an analyst would give each analysis before any feedback (reward scale 0..1)
ANALYSIS_PRIORS: dict[str, float] = {
    "summary": 0.75, "distributions": 0.65, "correlations": 0.62, "missingness": 0.6,
    "outliers": 0.55, "trend": 0.8, "segments": 0.6, "clustering": 0.45,
    "feature_importance": 0.78, "supervised_model": 0.72,
}
DEFAULT_PRIOR = 0.5
#: reward of each kind of feedback on an analysis's tile
SIGNALS: dict[str, float] = {
    "thumbs_up": 1.0, "expand": 1.0, "pin": 1.0, "task_done": 1.0, "kept": 0.7, "click": 0.6,
    "ignored": 0.3, "dismiss": 0.0, "thumbs_down": 0.0,
}


def analysis_context(profile: DatasetProfile, target: str | None = None) -> np.ndarray:
    """What the analysis bandit sees: the profile's meta-features, whether a target is
    given, and a constant (the prior's coordinate)."""
    from hub_kernel.agents.controller import profile_features

    return np.concatenate([np.clip(profile_features(profile), 0, 1),
                           [float(target is not None), 1.0]])


@dataclass(frozen=True)
class AnalysisChoice:
    """The agent's decision about one analysis for one dataset."""

    name: str
    title: str
    applies: bool
    show: bool
    value: float  # posterior mean of the reward
    sd: float  # posterior standard deviation
    probability: float  # probability of showing it under the policy
    propensity: float  # probability of the decision taken (show or skip)
    explanation: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class AnalysisBandit:
    """Per analysis, a Bayesian linear model of the reward given the context (Gaussian
    prior centred on ``ANALYSIS_PRIORS``, known noise ``noise``)."""

    def __init__(self, *, prior_precision: float = 4.0, noise: float = 0.35,
                 threshold: float = 0.5, dimension: int = 10) -> None:
        self.prior_precision = prior_precision
        self.noise = noise
        self.threshold = threshold
        self.dimension = dimension
        self._A: dict[str, np.ndarray] = {}
        self._b: dict[str, np.ndarray] = {}
        self.counts: dict[str, int] = {}

    def _arm(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in self._A:
            A = self.prior_precision * np.eye(self.dimension)
            theta = np.zeros(self.dimension)
            theta[-1] = ANALYSIS_PRIORS.get(name, DEFAULT_PRIOR)  # on the constant coordinate
            self._A[name], self._b[name] = A, A @ theta
        return self._A[name], self._b[name]

    def posterior(self, name: str, context: np.ndarray) -> tuple[float, float]:
        """Mean and standard deviation of the expected reward of ``name`` in ``context``."""
        A, b = self._arm(name)
        inverse = np.linalg.inv(A)
        mean = float(context @ inverse @ b)
        sd = float(self.noise * math.sqrt(max(float(context @ inverse @ context), 1e-12)))
        return mean, sd

    def probability_shown(self, name: str, context: np.ndarray) -> float:
        """P(Thompson sample >= threshold): the exact propensity of showing ``name``."""
        mean, sd = self.posterior(name, context)
        return 0.5 * (1 + math.erf((mean - self.threshold) / (sd * math.sqrt(2))))

    def update(self, name: str, context: np.ndarray, reward: float) -> None:
        A, b = self._arm(name)
        self._A[name] = A + np.outer(context, context)
        self._b[name] = b + reward * context
        self.counts[name] = self.counts.get(name, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        return {"prior_precision": self.prior_precision, "noise": self.noise,
                "threshold": self.threshold, "dimension": self.dimension,
                "arms": {n: {"A": self._A[n].tolist(), "b": self._b[n].tolist(),
                             "n": self.counts.get(n, 0)} for n in self._A}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnalysisBandit:
        bandit = cls(prior_precision=data["prior_precision"], noise=data["noise"],
                     threshold=data["threshold"], dimension=data["dimension"])
        for name, arm in data.get("arms", {}).items():
            bandit._A[name] = np.array(arm["A"], dtype="float64")
            bandit._b[name] = np.array(arm["b"], dtype="float64")
            bandit.counts[name] = int(arm.get("n", 0))
        return bandit


# ============================================================================================
# The agent
# ============================================================================================
@dataclass
class StrategyReport:
    """What ``StrategyAgent.analyze`` did: its choices (with why), the analyses' results, the
    model search (with a target) and the MLflow run holding the choices."""

    choices: list[AnalysisChoice]
    results: dict[str, Any]  # analysis name -> AnalysisResult
    search: SearchResult | None = None
    run_id: str | None = None

    @property
    def shown(self) -> list[str]:
        return [c.name for c in self.choices if c.show]

    def facts(self) -> list[Any]:
        """Every fact of every result, in the order the analyses ran."""
        return [fact for result in self.results.values() for fact in result.facts]


class StrategyAgent:
    """Chooses analyses for a dataset and searches model pipelines, learning from feedback
    and from earlier datasets. State lives in ``directory`` (default
    ``$HUB_HOME/agents/strategy``): ``analysis_bandit.json``, ``meta.json`` and, once trained,
    ``policy.zip``. ``audit`` (default True) records every decision in the audit log."""

    name = AGENT

    def __init__(self, directory: str | os.PathLike[str] | None = None, *, seed: int | None = 0,
                 audit: AuditLog | bool = True, mode: str | None = None) -> None:
        self.directory = Path(directory) if directory is not None else strategy_dir()
        self.seed = seed
        self.audit = audit
        self.mode = mode
        self.rng = np.random.default_rng(seed)
        self.bandit = self._load_bandit()
        self.meta = MetaStore(self.directory / "meta.json")
        self._policy: StrategyPolicy | Literal[False] | None = None

    # -- persistence ------------------------------------------------------------------------------
    @property
    def bandit_path(self) -> Path:
        return self.directory / "analysis_bandit.json"

    def _load_bandit(self) -> AnalysisBandit:
        try:
            return AnalysisBandit.from_dict(json.loads(self.bandit_path.read_text("utf-8")))
        except FileNotFoundError:
            return AnalysisBandit()
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("analysis bandit state %s unreadable (%s); starting from priors",
                           self.bandit_path, exc)
            return AnalysisBandit()

    def save(self) -> Path:
        """Write the analysis bandit's state; returns its path."""
        _write_json(self.bandit_path, self.bandit.to_dict())
        return self.bandit_path

    @classmethod
    def load(cls, directory: str | os.PathLike[str] | None = None, **kwargs: Any
             ) -> StrategyAgent:
        return cls(directory, **kwargs)

    def _audit_log(self) -> AuditLog | None:
        if self.audit is True:
            from hub_kernel.safety.audit import AuditLog

            return AuditLog()
        return self.audit or None

    def _record(self, **decision: Any) -> None:
        log = self._audit_log()
        if log is None:
            return
        try:
            log.record(agent=AGENT, mode=self.mode, **decision)
        except HubError as exc:
            logger.error("could not write the strategy decision to the audit log: %s", exc)

    # -- (a) analyses ------------------------------------------------------------------------------
    def choose_analyses(self, profile: DatasetProfile, target: str | None = None, *,
                        names: Sequence[str] | None = None, explore: bool = True,
                        limit: int | None = None) -> list[AnalysisChoice]:
        """Decide, for each registered analysis (or ``names``), whether to show it.

        With ``explore`` the decision is a Thompson sample (shown when the sampled value
        clears the threshold); without, the posterior mean decides. ``limit`` keeps the
        highest-valued shown ones. Each decision is recorded with its propensity.
        """
        from hub_kernel.analyses import available as registered
        from hub_kernel.analyses import get

        context = analysis_context(profile, target)
        choices: list[AnalysisChoice] = []
        for name in (names if names is not None else registered()):
            analysis = get(name)
            applies = analysis.applies(profile, target)
            mean, sd = self.bandit.posterior(name, context)
            p_show = self.bandit.probability_shown(name, context)
            seen = self.bandit.counts.get(name, 0)
            if not applies:
                show, propensity = False, 1.0
                why = f"skipped: it needs {analysis.requirement}"
            elif target is not None and name in ("supervised_model", "feature_importance"):
                show, propensity = True, 1.0  # asked for with the target: never left to chance
                why = f"shown: a target ({target}) was given"
            else:
                if explore:
                    sample = self.rng.normal(mean, sd)
                    show = bool(sample >= self.bandit.threshold)
                else:
                    show = mean >= self.bandit.threshold
                propensity = (p_show if show else 1 - p_show) if explore else 1.0
                basis = (f"after {seen} feedback event{'s' if seen != 1 else ''}"
                         if seen else "prior, no feedback yet")
                why = (f"{'shown' if show else 'skipped'}: expected value {mean:.2f} ± "
                       f"{sd:.2f} ({basis}), shown with probability {p_show:.2f}")
            choices.append(AnalysisChoice(name, analysis.title, applies, show, mean, sd,
                                          p_show if applies else 0.0, propensity, why))
        if limit is not None:
            shown = sorted((c for c in choices if c.show), key=lambda c: -c.value)
            keep = {c.name for c in shown[:limit]}
            choices = [c if c.show == (c.name in keep) else AnalysisChoice(
                c.name, c.title, c.applies, False, c.value, c.sd, c.probability, c.propensity,
                c.explanation.replace("shown:", "skipped (over the limit):"))
                for c in choices]
        for choice in choices:
            if choice.applies:
                self._record(action=f"{'show' if choice.show else 'skip'}:{choice.name}",
                             explanation=f"{choice.title}: {choice.explanation}",
                             propensity=choice.propensity, expected_reward=choice.value,
                             observation={"context": context.round(4).tolist(),
                                          "analysis": choice.name})
        return choices

    def feedback(self, profile: DatasetProfile, analysis: str, signal: str | float,
                 target: str | None = None, *, save: bool = True) -> float:
        """Learn from what a user did with an analysis's tile (a ``SIGNALS`` name or a reward
        in [0, 1]); returns the reward used."""
        if isinstance(signal, str):
            if signal not in SIGNALS:
                raise AgentError(f"unknown feedback {signal!r}; use one of "
                                 f"{', '.join(SIGNALS)} or a reward between 0 and 1")
            reward = SIGNALS[signal]
        else:
            reward = float(signal)
            if not 0.0 <= reward <= 1.0:
                raise AgentError(f"a reward must be between 0 and 1, not {reward}")
        self.bandit.update(analysis, analysis_context(profile, target), reward)
        if save:
            self.save()
        return reward

    def analyze(self, frame: pd.DataFrame, target: str | None = None, *,
                names: Sequence[str] | None = None, budget: float = 10.0,
                n_jobs: int | None = None, track: bool = True, name: str = "dataset",
                profile: DatasetProfile | None = None, explore: bool = True) -> StrategyReport:
        """Choose analyses for ``frame`` (or run ``names``), run them, and with a ``target``
        search model pipelines for ``budget`` seconds: one call for a notebook cell.

        ``track`` logs the search (child run per configuration) and the choices to MLflow.
        A named analysis that does not apply raises ``AnalysisError``.
        """
        from hub_kernel.analyses import AnalysisError, AnalysisRequestError, run_analyses
        from hub_kernel.data.profile import profile_dataset, text_columns

        frame = text_columns(frame)
        if target is not None and target not in frame.columns:
            raise AnalysisRequestError(f"no column {target!r} in the data; columns: "
                                       f"{', '.join(map(str, frame.columns[:20]))}")
        profile = profile if profile is not None else profile_dataset(frame)
        asked = list(names) if names is not None else None
        choices = self.choose_analyses(profile, target, names=asked,
                                       explore=explore and asked is None)
        if asked is not None:
            refused = [c for c in choices if not c.applies]
            if refused:
                raise AnalysisError(refused[0].name, f"does not apply to {name}: "
                                    + refused[0].explanation.removeprefix("skipped: "))
        chosen = asked if asked is not None else [c.name for c in choices if c.show]
        params: dict[str, dict[str, Any]] = {"supervised_model": {
            "budget": budget, "track": track, "agent": self, "name": name, "n_jobs": n_jobs}}
        results = run_analyses(frame, profile, names=chosen, target=target, params=params,
                               errors="skip")
        search = results["supervised_model"].artifacts.get("search") \
            if "supervised_model" in results else None
        run_id = log_choices(choices, dataset=name, run_id=search.parent_run_id
                             if search is not None else None) if track else None
        return StrategyReport(choices, results, search, run_id)

    # the design's agent contract, for the analysis decision: observation = context vector,
    # action = index of an analysis in ``analysis_names()``
    @staticmethod
    def analysis_names() -> list[str]:
        from hub_kernel.analyses import available

        return available()

    def action_probabilities(self, observation: np.ndarray, samples: int = 2000) -> np.ndarray:
        """Probability that each analysis has the highest Thompson sample (Monte Carlo)."""
        names = self.analysis_names()
        stats = [self.bandit.posterior(n, np.asarray(observation)) for n in names]
        rng = np.random.default_rng(0)
        draws = np.column_stack([rng.normal(m, s, samples) for m, s in stats])
        counts = np.bincount(np.argmax(draws, axis=1), minlength=len(names))
        return counts / samples

    def act(self, observation: np.ndarray) -> int:
        """The analysis (index) with the highest Thompson sample."""
        names = self.analysis_names()
        samples = [self.rng.normal(*self.bandit.posterior(n, np.asarray(observation)))
                   for n in names]
        return int(np.argmax(samples))

    def update(self, observation: np.ndarray, action: int, reward: float) -> None:
        self.bandit.update(self.analysis_names()[action], np.asarray(observation), reward)

    # -- (b) pipelines ---------------------------------------------------------------------------
    def policy(self) -> StrategyPolicy | None:
        """The SB3 policy trained across datasets, if one was trained (``train_policy``)."""
        if self._policy is None:
            from hub_kernel.agents.strategy.env import load_policy

            try:
                self._policy = load_policy(self.directory) or False
            except HubError as exc:
                logger.warning("strategy policy not loaded: %s", exc)
                self._policy = False
        return self._policy if self._policy is not False else None

    def search(self, X: Any, y: Any, *, budget: float = 10.0, name: str = "dataset",
               metric: str | None = None, n_jobs: int | None = None, track: bool = True,
               remember: bool = True, warm_start: bool = True, use_policy: bool = True,
               exclude: Sequence[str] = (), **kwargs: Any) -> SearchResult:
        """Search pipelines for ``y`` from ``X`` within ``budget`` seconds, warm-started from
        similar datasets; what it learns is remembered for the next dataset."""
        search = PipelineSearch(
            budget=budget, metric=metric, n_jobs=n_jobs or os.cpu_count() or 1,
            random_state=self.seed or 0, warm_start=self.meta if warm_start else None,
            exclude=exclude, policy=self.policy() if use_policy else None, track=track,
            audit=self._audit_log() or None, name=name, **kwargs)
        result = search.fit(X, y)
        if remember:
            self.remember(name, result)
        return result

    def remember(self, name: str, result: SearchResult, *,
                 features: np.ndarray | None = None) -> None:
        """Keep what a search learned for warm starts (keyed by ``name``)."""
        remember_search(self.meta, name, result, features=features)

    def train_policy(self, timesteps: int = 20_000, *, exclude: Sequence[str] = (),
                     seed: int = 0) -> Path:
        """Train the SB3 family policy on every remembered search (but ``exclude``)."""
        from hub_kernel.agents.strategy.env import train_policy

        path = train_policy(self.meta, timesteps=timesteps, exclude=exclude, seed=seed,
                            directory=self.directory)
        self._policy = None
        return path


def remember_search(store: MetaStore, name: str, result: SearchResult, *,
                    features: np.ndarray | None = None) -> DatasetMemory:
    """Store a search's outcome in ``store`` under ``name``."""
    if features is None:
        features = np.asarray(result.meta_features) if result.meta_features else None
    if features is None:
        raise AgentError("remembering a search needs its dataset's meta-features")
    ranked = sorted(result.evaluations, key=lambda e: -e.score)
    memory = DatasetMemory(
        key=name, name=name, task=result.task, metric=result.metric,
        features=[float(v) for v in features], baseline=result.baseline_score,
        best_score=result.best.score,
        top=[{"config": e.config.to_dict(), "score": e.score, "seconds": e.seconds}
             for e in ranked[: MetaStore.MAX_TOP]],
        evaluations=[{"family": e.config.family, "score": e.score, "seconds": e.seconds}
                     for e in result.evaluations])
    store.remember(memory)
    return memory


def log_choices(choices: Sequence[AnalysisChoice], *, dataset: str, run_id: str | None = None,
                tracking_uri: str | None = None) -> str | None:
    """Put the analysis choices and their explanations in MLflow: into ``run_id`` (e.g. the
    search's parent run) or a new run of their own. Returns the run id (None if MLflow failed:
    the audit log has them anyway)."""
    try:
        from hub_kernel.models.tracking import TrackingStore

        store = TrackingStore.from_settings(tracking_uri).open()
        client = store.client
        own = run_id is None
        if own:
            run = client.create_run(store.experiment_id, tags={
                "hub.agent": AGENT, "hub.kind": "analysis_choice", "hub.dataset": dataset,
                "mlflow.runName": f"analysis choice {dataset}"[:250]})
            run_id = run.info.run_id
        assert run_id is not None
        shown = [c.name for c in choices if c.show]
        client.set_tag(run_id, "hub.analyses", ",".join(shown) or "-")
        client.log_dict(run_id, {"dataset": dataset,
                                 "choices": [c.to_dict() for c in choices]},
                        "hub/analysis_choices.json")
        if own:
            client.set_terminated(run_id, status="FINISHED")
        return run_id
    except Exception as exc:
        logger.warning("could not log the analysis choices to MLflow: %s", exc)
        return None
