"""Dataset profiles: what kind each column is, how complete, how varied.

The profile is the "data characteristics" part of what the agents observe, and what the default
dashboard layout is built from.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

ColumnKind = Literal["numeric", "datetime", "boolean", "categorical", "text"]

# a text column with at most this many distinct values (or this share of rows) is categorical
_MAX_CATEGORIES = 50
_CATEGORY_SHARE = 0.05


@dataclass(frozen=True)
class ColumnProfile:
    name: str
    kind: ColumnKind
    dtype: str
    n_missing: int
    n_unique: int
    missing_share: float
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetProfile:
    n_rows: int
    n_columns: int
    memory_bytes: int
    columns: tuple[ColumnProfile, ...]
    #: profiled with dask, out of core (``hub_kernel.data.large_profile``): counts and
    #: missing values exact, quantiles and large distinct counts approximate
    out_of_core: bool = False
    #: rows of the uniform sample analyses run on (out of core only; None: every row)
    sample_rows: int | None = None

    def of_kind(self, *kinds: ColumnKind) -> list[ColumnProfile]:
        return [c for c in self.columns if c.kind in kinds]

    def column(self, name: str) -> ColumnProfile:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def n_missing(self) -> int:
        return sum(c.n_missing for c in self.columns)

    @property
    def analysed_rows(self) -> int:
        """The rows analyses see: the sample's out of core, else every row."""
        return self.n_rows if self.sample_rows is None else min(self.n_rows, self.sample_rows)

    @property
    def sampled(self) -> bool:
        """Whether analyses of this data run on a sample of fewer rows than it has."""
        return self.analysed_rows < self.n_rows

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetProfile:
        """The profile ``to_dict`` gave (as stored in the catalog)."""
        columns = tuple(ColumnProfile(**c) for c in data["columns"])
        return cls(**{**data, "columns": columns})


def _kind(column: pd.Series, n_unique: int, n_present: int) -> ColumnKind:
    if pd.api.types.is_bool_dtype(column):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(column):
        return "datetime"
    if pd.api.types.is_numeric_dtype(column):
        return "numeric"
    if n_unique <= _MAX_CATEGORIES or n_unique <= _CATEGORY_SHARE * max(n_present, 1):
        return "categorical"
    return "text"


def _autocorr(values: np.ndarray) -> float:
    """Lag-1 autocorrelation of ``values`` (finite floats, in row order); 0 when constant."""
    if len(values) < 3:
        return 0.0
    a, b = values[:-1] - values[:-1].mean(), values[1:] - values[1:].mean()
    scale = float(np.sqrt(np.dot(a, a) * np.dot(b, b)))
    return float(np.dot(a, b) / scale) if scale > 0 else 0.0


def _stats(column: pd.Series, kind: ColumnKind) -> dict[str, Any]:
    non_null = column.dropna()
    if non_null.empty:
        return {}
    if kind == "numeric":
        values = non_null.astype("float64")
        return {
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "min": float(values.min()),
            "max": float(values.max()),
            "skew": float(values.skew()) if len(values) > 2 else 0.0,
            # lag-1 autocorrelation in row order: high for smooth series worth a line chart
            "autocorr": _autocorr(values.to_numpy()),
        }
    if kind == "datetime":
        return {"min": non_null.min().isoformat(), "max": non_null.max().isoformat()}
    try:  # counted as they are (text conversion of a million strings is the slow part)
        counts = non_null.value_counts()
    except TypeError:  # unhashable values (lists from JSON): counted as their text
        counts = non_null.astype(str).value_counts()
    return {"top": str(counts.index[0]), "top_count": int(counts.iloc[0])}


def _n_unique(column: pd.Series) -> int:
    """Distinct non-missing values (unhashable ones, lists from JSON, by their text)."""
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "iuf":
        # numbers: sorting (numpy's vectorised sort) beats hashing several times on 1M rows
        values = column.to_numpy()
        if values.dtype.kind == "f":
            values = values[~np.isnan(values)]
        values = np.sort(values)
        return int(len(values) and 1 + np.count_nonzero(values[1:] != values[:-1]))
    try:
        return int(column.nunique(dropna=True))
    except TypeError:
        return int(column.dropna().astype(str).nunique())


def text_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with column names as text (``0`` becomes ``"0"``), as every analysis, tile and
    report refers to columns by name; ``DataError`` when two columns share a name."""
    from hub_kernel.exceptions import DataError

    names = [str(c) for c in frame.columns]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise DataError("the table", f"several columns are named {', '.join(map(repr, duplicated))}"
                        "; rename them so each name is used once")
    if all(isinstance(c, str) for c in frame.columns):
        return frame
    return frame.set_axis(names, axis=1)


def profile_dataset(frame: pd.DataFrame) -> DatasetProfile:
    """Profile every column of ``frame`` (names are taken as text; duplicates are refused)."""
    frame = text_columns(frame)
    n_rows = len(frame)
    columns = []
    for name in frame.columns:
        column = frame[name]
        n_missing = int(column.isna().sum())
        n_unique = _n_unique(column)
        kind = _kind(column, n_unique, n_rows - n_missing)
        columns.append(
            ColumnProfile(
                name=str(name),
                kind=kind,
                dtype=str(column.dtype),
                n_missing=n_missing,
                n_unique=n_unique,
                missing_share=float(n_missing / n_rows) if n_rows else 0.0,
                stats=_stats(column, kind),
            )
        )
    memory = int(np.int64(frame.memory_usage(deep=True).sum()))
    return DatasetProfile(
        n_rows=n_rows, n_columns=frame.shape[1], memory_bytes=memory, columns=tuple(columns)
    )


def profile_features(profile: DatasetProfile) -> np.ndarray:
    """The profile's feature vector every agent compares datasets by (8 numbers, about
    [0, 1]): size, width, the shares of numeric, categorical, datetime and boolean columns,
    mean missingness and mean cardinality (distinct values per row)."""
    columns = list(profile.columns)
    n = max(len(columns), 1)
    kinds = [c.kind for c in columns]
    return np.array([
        math.log10(max(profile.n_rows, 1)) / 7, math.log10(n) / 4,
        kinds.count("numeric") / n, kinds.count("categorical") / n,
        kinds.count("datetime") / n, kinds.count("boolean") / n,
        float(np.mean([c.missing_share for c in columns])) if columns else 0.0,
        float(np.mean([min(c.n_unique / max(profile.n_rows, 1), 1.0) for c in columns]))
        if columns else 0.0,
    ])


def similarity(a: np.ndarray, b: np.ndarray, *, kind: Literal["cosine", "gaussian"] = "cosine",
               bandwidth: float = 0.4) -> float:
    """Similarity of two datasets' feature vectors.

    ``cosine`` (in [0, 1]; the layout controller weighs other dashboards' data by it) looks at
    the direction only: two tables with the same mix of columns match whatever their size.
    ``gaussian`` (in (0, 1], a kernel of width ``bandwidth`` on the distance; the pipeline
    search's warm starts) also tells sizes apart, and falls to zero for distant datasets, so
    the search starts only from really close ones. The two agents keep their measure, as their
    benchmarks were tuned with it.
    """
    a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    if kind == "gaussian":
        distance2 = float(np.sum((a - b) ** 2))
        return math.exp(-distance2 / (2 * bandwidth ** 2))
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return max(0.0, float(a @ b) / norm) if norm else 0.0
