"""What a pipeline search produces: each ``Evaluation`` (a configuration's cross-validated
score and why it was chosen) and the ``SearchResult``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hub_kernel.automl.space import Config

if TYPE_CHECKING:
    from hub_kernel.models.leakage import LeakReport


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
    worker: str | None = None  # the Dask worker that evaluated it (None: the search's process)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "config": self.config.to_dict(), "label":
                self.config.label(), "score": self.score, "std": self.std,
                "seconds": self.seconds, "fit_seconds": self.fit_seconds,
                "expected": self.expected, "explanation": self.explanation,
                "propensity": self.propensity, "finished_at": self.finished_at,
                "source": self.source, "run_id": self.run_id, "worker": self.worker}


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
    #: False when no configuration beat the trivial baseline: ``model`` is then that baseline
    beats_baseline: bool = True
    #: the columns left out as leaks of the target (``models.leakage``), None: not checked
    leaks: LeakReport | None = None
    #: what chance scores (guessing classes in their proportions, or the mean): the bar
    #: ``beats_baseline`` is judged against with the baseline (None: not measured)
    chance_score: float | None = None
    #: where the evaluations ran when on Dask (``cluster.Cluster.summary``: scheduler address,
    #: workers, evaluations lost with a worker, scheduling overhead); None: in this process
    cluster: dict[str, Any] | None = None

    @property
    def final_score(self) -> float:
        """The cross-validated score of ``model``: the baseline's when nothing beat it, else
        the ensemble's, else the best's."""
        if not self.beats_baseline:
            return self.baseline_score
        return self.ensemble_score if self.ensemble_score is not None else self.best.score

    @property
    def excluded(self) -> tuple[str, ...]:
        """The columns left out as leaks of the target."""
        return self.leaks.excluded if self.leaks is not None else ()

    @property
    def best_score(self) -> float:
        return self.best.score

    def leaderboard(self, top: int | None = None, *, members: bool = False) -> pd.DataFrame:
        """Evaluations, best first: rank, evaluation (its number, as ``ensemble`` names it),
        configuration, family, score, std, seconds, why, and its weight in the ensemble
        (0: not in it). ``members`` keeps the ensemble's members beyond ``top`` too."""
        weights = dict(self.ensemble)
        rows = [{"rank": 0, "evaluation": e.index, "configuration": e.config.label(),
                 "family": e.config.family, "score": e.score, "std": e.std,
                 "seconds": e.seconds, "expected": e.expected, "source": e.source,
                 "propensity": e.propensity, "ensemble_weight": float(weights.get(e.index, 0.0))}
                for e in sorted(self.evaluations, key=lambda e: (-e.score, e.index))]
        frame = pd.DataFrame(rows)
        if frame.empty or not top:
            if not frame.empty:
                frame["rank"] = np.arange(1, len(frame) + 1)
            return frame
        frame["rank"] = np.arange(1, len(frame) + 1)
        keep = frame["rank"] <= top
        if members:
            keep |= frame["evaluation"].isin(list(weights))
        return frame[keep].reset_index(drop=True)

    def ensemble_members(self) -> list[dict[str, Any]]:
        """The configurations combined in ``model``: evaluation number, leaderboard rank,
        configuration and weight, heaviest first (empty: the best single configuration)."""
        board = self.leaderboard()
        if board.empty:
            return []
        rank = dict(zip(board["evaluation"], board["rank"], strict=True))
        label = dict(zip(board["evaluation"], board["configuration"], strict=True))
        return [{"evaluation": int(i), "rank": int(rank[i]), "configuration": label[i],
                 "weight": float(w)}
                for i, w in sorted(self.ensemble, key=lambda iw: -iw[1]) if i in rank]

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.model.predict(X))

    def summary(self) -> str:
        left_out = (f"; left out as leaks: {', '.join(self.excluded)}" if self.excluded
                    else "")
        if not self.beats_baseline:
            chance = self.chance_score
            guess = (f" ({chance:.4f} for chance)" if chance is not None
                     and chance > self.baseline_score else "")
            return (f"no model beats the baseline: {self.metric} {self.baseline_score:.4f} for "
                    f"the trivial baseline{guess}; the best of {len(self.evaluations)} evaluations "
                    f"({self.best.config.label()}) scores {self.best.score:.4f}; stopped: "
                    f"{self.stop_reason}{left_out}")
        members = ", ".join(f"#{m['evaluation']} (rank {m['rank']})"
                            for m in self.ensemble_members())
        combined = (f"; an ensemble of evaluations {members} scores "
                    f"{self.ensemble_score:.4f}" if self.ensemble else "")
        return (f"best {self.best.config.label()}: {self.metric} {self.best.score:.4f} "
                f"(baseline {self.baseline_score:.4f}) after {len(self.evaluations)} "
                f"evaluations in {self.seconds:.1f} s{combined}; stopped: {self.stop_reason}"
                f"{left_out}")

