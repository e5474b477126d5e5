"""Warm starts (meta-learning): ``MetaStore`` keeps, under ``$HUB_HOME/agents/strategy``, each
searched dataset's meta-features (``search_features``), its best configurations and every
evaluation; a new dataset's search starts from what worked on similar ones (the Gaussian
similarity of ``hub_kernel.data.profile``, same task)."""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hub_kernel.data.profile import profile_features, similarity
from hub_kernel.exceptions import AgentError

if TYPE_CHECKING:
    from hub_kernel.automl.results import SearchResult
    from hub_kernel.data.profile import DatasetProfile

logger = logging.getLogger("hub_kernel")

#: the agent name the search's audit records and MLflow runs carry
AGENT = "strategy"


def strategy_dir() -> Path:
    """Where the strategy agent keeps its state: ``$HUB_HOME/agents/strategy``."""
    from hub_kernel.core.config import get_settings

    return get_settings().home / "agents" / "strategy"


def write_json(path: Path, data: Any) -> None:
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


N_META = 14


def search_features(X: pd.DataFrame, y: Any, task: str,
                    profile: DatasetProfile | None = None) -> np.ndarray:
    """Meta-features of a supervised dataset, each in [0, 1]: the profile's (size, kinds,
    missingness, cardinality), then task, number of classes, class balance, skew, size of
    the problem and width relative to rows."""
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
            write_json(self.path, {"version": 1,
                                    "datasets": {k: v.__dict__ for k, v in known.items()}})

    def similar(self, features: np.ndarray, task: str, *, exclude: Iterable[str] = (),
                k: int = 5, min_similarity: float = 0.05) -> list[tuple[DatasetMemory, float]]:
        """The ``k`` most similar datasets of the same task, with their similarity."""
        skip = set(exclude)
        found = [(m, similarity(features, np.asarray(m.features), kind="gaussian"))
                 for m in self.load().values() if m.task == task and m.key not in skip
                 and m.name not in skip
                 and np.shape(m.features) == np.shape(features)]  # other meta-features: skip
        found = [pair for pair in found if pair[1] >= min_similarity]
        found.sort(key=lambda pair: -pair[1])
        return found[:k]



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
