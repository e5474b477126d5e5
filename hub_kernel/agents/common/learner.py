"""The contextual learner every agent shares: a Bayesian linear model of a tile's reward.

A tile is described by its attributes (``tile_attributes``): its kind (``analysis-trend``,
``chart``, ``model``...), chart type, the kinds and names of its columns, its width, its slot,
the dataset's profile features, the viewer's stated skill, and the same attributes crossed with
the viewer (so a person's own taste is learned on top of everyone's). The attributes are hashed
into a fixed-size vector (``TileLearner.vector``), so what one person teaches about
"histograms" or "the segments analysis" or "columns named price" carries over to other columns,
datasets and people, and a new kind of tile needs no new parameters.

The model is Bayesian linear regression (a Gaussian prior centred on ``PRIOR_MEAN``, known
noise) over unit-length vectors, updated in closed form. Vectors have unit length so that a
tile nobody has judged has a posterior sd of about ``noise / sqrt(prior_precision)`` (0.35)
whatever its number of attributes; the viewer's own attributes weigh ``USER_WEIGHT`` times the
shared ones (not crossed with the stated skill, which would count them twice), so what a
person teaches moves their own predictions most (about 0.6 of the squared length is theirs)
and everyone else's less (the shared 0.4). A decision draws
weights from the posterior (Thompson sampling) or uses the mean. The
state is kept in SQLite (``LearnerStore``, in the event store's file) and updated in one
transaction per batch, so two kernels never lose each other's feedback.
"""

from __future__ import annotations

import io
import math
import os
import sqlite3
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from scipy.linalg import solve_triangular
from threadpoolctl import threadpool_limits

from hub_kernel.core.sqlite import connect
from hub_kernel.exceptions import AgentError

#: the reward of one piece of feedback on a tile, in [0, 1] (docs/reward.md)
TILE_REWARD: dict[str, float] = {
    "thumbs_up": 1.0, "task_done": 1.0, "pin": 1.0, "expand": 0.85, "first": 0.85,
    "click": 0.65, "thumbs_down": 0.0, "dismiss": 0.0,
}
DIMENSION = 512
PRIOR_MEAN = 0.5  # the reward of a tile nobody has judged: a coin flip
USER_WEIGHT = 2.0  # a viewer's own attributes against everyone's (module docstring)
SKILL_WEIGHT = 2.0  # the attributes crossed with the viewer's stated skill level

_SCHEMA = """
CREATE TABLE IF NOT EXISTS learners (
    name TEXT PRIMARY KEY, dimension INTEGER NOT NULL, n REAL NOT NULL,
    precision BLOB NOT NULL, moment BLOB NOT NULL, time TEXT NOT NULL
);
"""


def tile_attributes(tile: Any, *, slot: int | None = None, profile_vector: Sequence[float] = (),
                    column_kinds: Mapping[str, str] | None = None, skill: str | None = None,
                    user: str | None = None) -> dict[str, float]:
    """The attributes of ``tile`` (a ``hub_kernel.layout.Tile``) shown in ``slot`` to ``user``,
    as ``{name: value}`` (value 1 for categorical attributes)."""
    kinds = column_kinds or {}
    shared: dict[str, float] = {"bias": 1.0, f"kind={tile.kind}": 1.0}
    if tile.chart_type:
        shared[f"chart={tile.chart_type}"] = 1.0
        shared[f"kind={tile.kind}&chart={tile.chart_type}"] = 1.0
    column_kind = "+".join(kinds.get(c, "?") for c in tile.columns)
    if tile.columns:
        shared[f"columns={column_kind}"] = 1.0
        if tile.chart_type:
            shared[f"columns={column_kind}&chart={tile.chart_type}"] = 1.0
    for name in tile.columns:
        shared[f"column={str(name).strip().lower()}"] = 1.0 / len(tile.columns)
    shared[f"width={tile.width}"] = 1.0
    if skill:  # people of one stated skill level want more alike than people of two
        shared[f"skill={skill}&kind={tile.kind}"] = SKILL_WEIGHT
        if tile.chart_type:
            shared[f"skill={skill}&chart={tile.chart_type}"] = SKILL_WEIGHT
    for i, value in enumerate(profile_vector):  # what the data is like, per kind of tile
        shared[f"kind={tile.kind}&profile{i}"] = float(value)
    attributes = dict(shared)
    if user:  # the same, for this person only: their own taste on top of everyone's (not
        # crossed with the skill they state: that is one person's taste counted twice, and
        # twice the hashed coordinates, colliding with other people's)
        for key, value in shared.items():
            if "&profile" not in key and not key.startswith("skill="):
                attributes[f"user={user}&{key}"] = USER_WEIGHT * value
    if slot is not None:  # position: attention falls with the slot, whatever the tile
        attributes["slot"] = 1.0 / (1.0 + slot)
    return attributes


@dataclass
class TileLearner:
    """Bayesian linear regression over hashed tile attributes.

    ``precision`` (the posterior's inverse covariance, scaled by the noise) and ``moment``
    (X'(y - PRIOR_MEAN)) are the sufficient statistics; they start from a prior of
    ``prior_precision`` per coordinate, weights centred on 0 (so every prediction starts at
    ``PRIOR_MEAN``).
    """

    dimension: int = DIMENSION
    prior_precision: float = 1.0
    noise: float = 0.35
    n: float = 0.0

    def __post_init__(self) -> None:
        self.precision = self.prior_precision * np.eye(self.dimension)
        self.moment = np.zeros(self.dimension)
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    # -- features ----------------------------------------------------------------------------
    def index(self, name: str) -> tuple[int, float]:
        """Where attribute ``name`` lands in the vector, and its sign (the hashing trick)."""
        code = zlib.crc32(name.encode("utf-8"))
        return code % self.dimension, 1.0 if (code >> 31) & 1 else -1.0

    def vector(self, attributes: Mapping[str, float]) -> np.ndarray:
        """The unit-length hashed vector of ``attributes``."""
        x = np.zeros(self.dimension)
        for name, value in attributes.items():
            i, sign = self.index(name)
            x[i] += sign * float(value)
        norm = float(np.linalg.norm(x))
        return x / norm if norm > 0 else x

    def vectors(self, attributes: Sequence[Mapping[str, float]]) -> np.ndarray:
        """One row per attribute map."""
        if not attributes:
            return np.zeros((0, self.dimension))
        return np.vstack([self.vector(a) for a in attributes])

    # -- beliefs -----------------------------------------------------------------------------
    def _posterior(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean weights and the Cholesky factor of the precision (cached until an update)."""
        if self._cache is None:
            # one BLAS thread: at this size threads only cost (starting OpenBLAS's pool beside
            # scikit-learn's OpenMP took 0.2-0.5 s of a dashboard's first paint)
            with threadpool_limits(1, user_api="blas"):
                factor = np.linalg.cholesky(self.precision)
                mean = _lower_solve(factor, self.moment, transposed=True, twice=True)
            self._cache = (mean, factor)
        return self._cache

    def mean(self, X: np.ndarray) -> np.ndarray:
        """Expected reward of each row of ``X``."""
        weights, _ = self._posterior()
        return PRIOR_MEAN + np.atleast_2d(X) @ weights

    def sd(self, X: np.ndarray) -> np.ndarray:
        """Posterior standard deviation of the expected reward of each row of ``X``."""
        _, factor = self._posterior()
        with threadpool_limits(1, user_api="blas"):
            solved = _lower_solve(factor, np.atleast_2d(X).T)
        return self.noise * np.sqrt(np.maximum((solved ** 2).sum(axis=0), 1e-12))

    def sample_weights(self, rng: np.random.Generator, size: int = 1,
                       scale: float = 1.0) -> np.ndarray:
        """``size`` weight vectors drawn from the posterior (Thompson sampling); ``scale``
        widens or narrows the draw (the exploration budget)."""
        weights, factor = self._posterior()
        z = rng.standard_normal((self.dimension, size))
        with threadpool_limits(1, user_api="blas"):
            draws = weights[:, None] + scale * self.noise * _lower_solve(factor, z,
                                                                         transposed=True)
        return draws.T

    def draw(self, X: np.ndarray, rng: np.random.Generator, size: int = 1,
             scale: float = 1.0) -> np.ndarray:
        """Thompson draws of the expected reward of each row of ``X``: ``(size, rows)``."""
        return PRIOR_MEAN + self.sample_weights(rng, size, scale) @ np.atleast_2d(X).T

    def update(self, X: np.ndarray, rewards: Sequence[float],
               weights: Sequence[float] | None = None) -> None:
        """Learn from rewards (in [0, 1]) of tiles with vectors ``X`` (rows)."""
        X = np.atleast_2d(np.asarray(X, dtype="float64"))
        y = np.asarray(rewards, dtype="float64")
        w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype="float64")
        keep = np.isfinite(y) & np.isfinite(w) & (w > 0)
        X, y, w = X[keep], np.clip(y[keep], 0.0, 1.0), w[keep]
        if not len(y):
            return
        self.precision = self.precision + (X * w[:, None]).T @ X
        self.moment = self.moment + X.T @ (w * (y - PRIOR_MEAN))
        self.n += float(w.sum())
        self._cache = None

    def add(self, other: TileLearner) -> None:
        """Add the evidence ``other`` holds beyond its prior (merging two kernels' updates)."""
        base = TileLearner(self.dimension, self.prior_precision, self.noise)
        self.precision = self.precision + other.precision - base.precision
        self.moment = self.moment + other.moment - base.moment
        self.n += other.n
        self._cache = None

    # -- persistence -------------------------------------------------------------------------
    def to_bytes(self) -> tuple[bytes, bytes]:
        return _array_bytes(self.precision), _array_bytes(self.moment)

    @classmethod
    def from_bytes(cls, precision: bytes, moment: bytes, *, n: float = 0.0) -> TileLearner:
        A, b = _bytes_array(precision), _bytes_array(moment)
        if A.ndim != 2 or A.shape[0] != A.shape[1] or b.shape != (A.shape[0],):
            raise AgentError(f"stored learner has shapes {A.shape} and {b.shape}")
        learner = cls(dimension=A.shape[0], n=n)
        learner.precision, learner.moment = A, b
        return learner


def _array_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _bytes_array(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


class LearnerStore:
    """Named learners in SQLite (default: ``$HUB_HOME/events.db``, beside the events they
    learned from). ``update`` reads, updates and writes in one transaction."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        if path is None:
            from hub_kernel.core.config import get_settings

            path = get_settings().home / "events.db"
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        return connect(self.path, what="learner store", error=AgentError, schema=_SCHEMA)

    def load(self, name: str) -> TileLearner:
        """The learner ``name`` (a fresh one, at its prior, if none was stored)."""
        if not self.path.exists():
            return TileLearner()
        db = self._connect()
        try:
            row = db.execute("SELECT * FROM learners WHERE name = ?", (name,)).fetchone()
        finally:
            db.close()
        if row is None:
            return TileLearner()
        try:
            return TileLearner.from_bytes(row["precision"], row["moment"], n=row["n"])
        except (ValueError, OSError) as exc:
            raise AgentError(f"learner {name!r} in {self.path} is unreadable ({exc}); "
                             "delete its row to start it again from the prior") from exc

    def update(self, name: str, X: np.ndarray, rewards: Sequence[float],
               weights: Sequence[float] | None = None) -> TileLearner:
        """Add evidence to learner ``name`` atomically; returns the updated learner."""
        db = self._connect()
        try:
            with db:
                db.execute("BEGIN IMMEDIATE")
                row = db.execute("SELECT * FROM learners WHERE name = ?", (name,)).fetchone()
                learner = (TileLearner.from_bytes(row["precision"], row["moment"], n=row["n"])
                           if row is not None else TileLearner(dimension=np.shape(X)[-1]))
                learner.update(X, rewards, weights)
                precision, moment = learner.to_bytes()
                db.execute("INSERT OR REPLACE INTO learners VALUES (?, ?, ?, ?, ?, ?)",
                           (name, learner.dimension, learner.n, precision, moment,
                            datetime.now(UTC).isoformat(timespec="seconds")))
        except sqlite3.Error as exc:
            raise AgentError(f"learner store {self.path} cannot be written: {exc}") from exc
        finally:
            db.close()
        return learner


def rewards_of(kinds: Iterable[str]) -> list[float]:
    """The tile reward of each feedback kind (``TILE_REWARD``; NaN for kinds that are not
    feedback on a tile, which ``update`` skips)."""
    return [TILE_REWARD.get(kind, math.nan) for kind in kinds]


@dataclass(frozen=True)
class Viewer:
    """Who looks at which data: what ``tile_attributes`` needs besides the tile."""

    user: str | None = None
    skill: str | None = None
    profile_vector: tuple[float, ...] = ()
    column_kinds: Mapping[str, str] | None = None

    @classmethod
    def of(cls, profile: Any | None, user: str | None = None,
           skill: str | None = None) -> Viewer:
        """The viewer ``user`` (of stated ``skill``) of data with ``profile``."""
        if profile is None:
            return cls(user, skill)
        from hub_kernel.data.profile import profile_features

        return cls(user, skill, tuple(float(v) for v in profile_features(profile)),
                   {c.name: c.kind for c in profile.columns})

    def attributes(self, tile: Any, slot: int | None = None) -> dict[str, float]:
        return tile_attributes(tile, slot=slot, profile_vector=self.profile_vector,
                               column_kinds=self.column_kinds, skill=self.skill,
                               user=self.user)


def _lower_solve(factor: np.ndarray, b: np.ndarray, *, transposed: bool = False,
                 twice: bool = False) -> np.ndarray:
    """Solve with the lower Cholesky ``factor`` L: ``L x = b``, ``L^T x = b`` (``transposed``)
    or ``L L^T x = b`` (``twice``), by triangular substitution (much cheaper than a general
    solve)."""
    if twice:
        return solve_triangular(factor, solve_triangular(factor, b, lower=True), lower=True,
                                trans="T")
    return solve_triangular(factor, b, lower=True, trans="T" if transposed else "N")
