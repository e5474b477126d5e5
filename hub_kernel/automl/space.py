"""The configuration space of the pipeline search: estimator families, their hyperparameters
(``prep.*`` ones choose the preprocessing) and one configuration (``Config``) to evaluate."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np


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




def work(config: Config) -> float:
    """Relative cost of a configuration within its family (seconds ~ rate x work)."""
    p = config.params
    if config.family == "hgb":
        return float(p["max_iter"]) * (0.5 + float(p["max_leaf_nodes"]) / 62)
    if config.family in ("rf", "et"):
        return float(p["n_estimators"]) * (0.3 + float(p["max_features"])) / (
            0.5 + float(p["min_samples_leaf"]) / 4)
    return 1.0



#: the parameter that sets how much work a configuration is (scaled down to fit the time)
SIZE_PARAM = {"hgb": "max_iter", "rf": "n_estimators", "et": "n_estimators"}
#: the families whose preprocessing scales the numbers and one-hot encodes the categories
SCALED_FAMILIES = ("linear", "svm", "knn")
