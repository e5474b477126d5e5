"""Pipeline searches the trainer runs: what a search is asked (``SearchRequest``), what it
returns (``SearchOutcome``), the ``Searcher`` protocol and the ``searchers`` registry.

``ModelTrainer.train_model(..., budget=S)`` hands its prepared rows to a searcher and registers
the pipeline the searcher returns (``models.training.TrainingRun``): the winning configuration,
or a ``models.blend.Blend`` when an ensemble won. hub's searcher is the strategy agent's
pipeline search (``hub_kernel.automl.searcher.StrategySearcher``). The automl layer sits above
this one and this module never imports it: the strategy search is a plug-in of the trainer,
declared below as the built-in entry point ``strategy`` of the group ``hub.searchers`` and
loaded the first time a budget is given (an installed package can declare others in that
group; ``ModelTrainer(searcher=...)`` passes one directly).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from hub_kernel.core.registry import Registry
from hub_kernel.exceptions import ModelError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

logger = logging.getLogger("hub_kernel")

ENTRY_POINT_GROUP = "hub.searchers"
DEFAULT_SEARCHER = "strategy"
#: hub's own searcher, loaded as an entry point of ``ENTRY_POINT_GROUP`` (see the docstring)
BUILTIN = f"{DEFAULT_SEARCHER} = hub_kernel.automl.searcher:StrategySearcher"


@dataclass(frozen=True)
class SearchRequest:
    """What the trainer asks of a search: rows ready for training (``X`` holds only the
    feature columns, ``y`` the target's values), the task, and the wall-clock ``budget``."""

    X: pd.DataFrame
    y: np.ndarray
    task: str
    target: str
    budget: float
    name: str  # the model's name: the search's MLflow run and its memory for warm starts
    seed: int = 0
    n_jobs: int | None = None
    tracking_uri: str | None = None
    #: configurations to evaluate first (what won the model's last search), as stored in
    #: ``SearchOutcome.start``
    start: tuple[Mapping[str, Any], ...] = ()
    metric: str | None = None  # a scikit-learn scorer name; None: the searcher's default


@dataclass(frozen=True)
class SearchOutcome:
    """What a search found: the pipeline to register (unfitted: the trainer cross-validates
    and fits it) and the leaderboard behind the choice."""

    estimator: Any
    winner: str  # the winning configuration, or "ensemble of ..." in words
    metric: str
    score: float  # the winner's cross-validated score in the search
    baseline: float  # the trivial baseline's score on the same folds
    #: evaluations best first: rank, configuration, family, score, std, seconds, weight
    leaderboard: tuple[Mapping[str, Any], ...]
    seconds: float
    stop_reason: str
    parent_run_id: str | None = None  # the search's MLflow run (its children: the leaderboard)
    warm_start: tuple[tuple[str, float], ...] = ()  # (similar dataset, similarity)
    start: tuple[Mapping[str, Any], ...] = ()  # what to start from when searching again
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n_evaluations(self) -> int:
        return len(self.leaderboard)

    def explain(self) -> str:
        """The choice in words: winner, score against the baseline, how it was found."""
        warm = (", warm-started from " + ", ".join(f"{n} (similarity {s:.2f})"
                                                   for n, s in self.warm_start)
                if self.warm_start else "")
        runners = [row for row in self.leaderboard if row.get("rank", 0) in (2, 3)]
        others = ("; next: " + ", ".join(f"{r['configuration']} {float(r['score']):.4f}"
                                         for r in runners)) if runners else ""
        return (f"{self.winner}: cross-validated {self.metric} {self.score:.4f} against "
                f"{self.baseline:.4f} for the trivial baseline, the best of "
                f"{self.n_evaluations} evaluations in {self.seconds:.1f} s{warm}{others} "
                f"(stopped: {self.stop_reason})")


class Searcher(Protocol):
    """A pipeline search: a request in, the pipeline to register and its leaderboard out."""

    def __call__(self, request: SearchRequest) -> SearchOutcome: ...


def _builtins() -> Iterable[tuple[str, Any]]:
    from importlib.metadata import EntryPoint

    name, _, value = (part.strip() for part in BUILTIN.partition("="))
    yield name, EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP).load()


def _factory(obj: Any) -> Callable[..., Searcher]:
    if not callable(obj):
        raise ModelError(f"searcher {obj!r} is not callable")
    return obj


#: searcher factories by name (called with keyword options, they return a ``Searcher``)
searchers: Registry[Callable[..., Searcher]] = Registry(
    "searcher", entry_point_group=ENTRY_POINT_GROUP, builtins=_builtins, check=_factory,
    error=ModelError)


def default_searcher(**options: Any) -> Searcher:
    """hub's strategy search (``options`` go to its constructor, e.g. ``callback``)."""
    return searchers.get(DEFAULT_SEARCHER)(**options)


def as_start(configs: Sequence[Mapping[str, Any]] | None) -> tuple[Mapping[str, Any], ...]:
    """Stored starting configurations, checked: each a mapping with ``family`` and ``params``."""
    found = []
    for config in configs or ():
        if isinstance(config, Mapping) and isinstance(config.get("family"), str) \
                and isinstance(config.get("params"), Mapping):
            found.append({"family": config["family"], "params": dict(config["params"])})
    return tuple(found)
