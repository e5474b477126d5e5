"""The profile of a dataset larger than memory, computed out of core with dask.dataframe.

Two passes over the data, each partition at a time (memory is bounded by a few partitions):

1. per column: rows, non-missing count, min, max, sum and memory (one ``map_partitions``), and
   a HyperLogLog estimate of the distinct values (``nunique_approx``);
2. centred moments (standard deviation, skew, lag-1 autocorrelation in row order, pairs
   across partition boundaries left out), approximate quartiles (``quantile``, dask's
   percentile merge), exact value counts of every column with at most ``EXACT_DISTINCT``
   distinct values (estimated), and the uniform sample analyses run on.

So the row count, missing counts, min, max and mean are exact; distinct counts are exact up to
``EXACT_DISTINCT`` values and a HyperLogLog estimate above it (``stats["n_unique_approximate"]``);
quartiles are approximate. The result is the ``DatasetProfile`` agents observe, marked
``out_of_core`` with the sample size.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np
import pandas as pd

from hub_kernel.data.large import SAMPLE_ROWS, SAMPLE_SEED, LazyTable
from hub_kernel.data.profile import ColumnKind, ColumnProfile, DatasetProfile, _kind

logger = logging.getLogger("hub_kernel")

#: columns with at most this many distinct values (estimated) are counted exactly
EXACT_DISTINCT = 100_000
QUARTILES = (0.25, 0.5, 0.75)
_NO_TIME = np.iinfo("int64").max

_STATS_META = pd.DataFrame({
    "column": pd.Series(dtype=object), "rows": pd.Series(dtype="int64"),
    "count": pd.Series(dtype="int64"), "min": pd.Series(dtype="float64"),
    "max": pd.Series(dtype="float64"), "sum": pd.Series(dtype="float64"),
    "tmin": pd.Series(dtype="int64"), "tmax": pd.Series(dtype="int64"),
    "memory": pd.Series(dtype="int64"),
})
_MOMENTS_META = pd.DataFrame({
    "column": pd.Series(dtype=object), "m2": pd.Series(dtype="float64"),
    "m3": pd.Series(dtype="float64"), "lag": pd.Series(dtype="float64"),
    "head2": pd.Series(dtype="float64"), "tail2": pd.Series(dtype="float64"),
})


def _dtype_kind(meta: pd.Series) -> ColumnKind | None:
    """The kind the dtype alone decides (numeric, boolean, datetime), else None (text)."""
    kind = _kind(meta, n_unique=10**9, n_present=10**9)
    return None if kind == "text" else kind


def _partition_stats(part: pd.DataFrame, kinds: dict[str, ColumnKind | None]) -> pd.DataFrame:
    rows = []
    for name in part.columns:
        column = part[name]
        present = column.notna()
        count = int(present.sum())
        entry = {"column": str(name), "rows": len(column), "count": count, "min": np.nan,
                 "max": np.nan, "sum": np.nan, "tmin": _NO_TIME, "tmax": -_NO_TIME,
                 "memory": int(column.memory_usage(deep=True, index=False))}
        kind = kinds[str(name)]
        if count and kind == "numeric":
            values = column[present].to_numpy(dtype="float64")
            entry.update(min=float(values.min()), max=float(values.max()),
                         sum=float(values.sum()))
        elif count and kind == "datetime":
            stamps = pd.to_datetime(column[present])
            if getattr(stamps.dtype, "tz", None) is not None:
                stamps = stamps.dt.tz_convert(None)
            stamps = stamps.dt.as_unit("ns").astype("int64")
            entry.update(tmin=int(stamps.min()), tmax=int(stamps.max()))
        rows.append(entry)
    return pd.DataFrame(rows, columns=list(_STATS_META.columns)).astype(_STATS_META.dtypes)


def _partition_moments(part: pd.DataFrame, means: dict[str, float]) -> pd.DataFrame:
    rows = []
    for name, mean in means.items():
        a = part[name].dropna().to_numpy(dtype="float64") - mean
        rows.append({"column": name, "m2": float(np.dot(a, a)), "m3": float(np.sum(a ** 3)),
                     "lag": float(np.dot(a[:-1], a[1:])) if len(a) > 1 else 0.0,
                     "head2": float(np.dot(a[:-1], a[:-1])) if len(a) > 1 else 0.0,
                     "tail2": float(np.dot(a[1:], a[1:])) if len(a) > 1 else 0.0})
    return pd.DataFrame(rows, columns=list(_MOMENTS_META.columns)).astype(_MOMENTS_META.dtypes)


def _numeric_stats(count: int, low: float, high: float, total: float,
                   moments: pd.Series) -> dict[str, Any]:
    """mean, std, min, max, skew and autocorr as ``profile._stats`` gives them."""
    m2, m3 = float(moments["m2"]), float(moments["m3"])
    skew = 0.0
    if count > 2 and m2 > 0:  # pandas' adjusted Fisher-Pearson skew
        skew = (count * math.sqrt(count - 1) / (count - 2)) * (m3 / m2 ** 1.5)
    scale = math.sqrt(float(moments["head2"]) * float(moments["tail2"]))
    return {"mean": total / count,
            "std": math.sqrt(m2 / (count - 1)) if count > 1 else 0.0,
            "min": low, "max": high, "skew": skew,
            "autocorr": float(moments["lag"]) / scale if count >= 3 and scale > 0 else 0.0}


def profile_table(table: LazyTable, *, sample_rows: int = SAMPLE_ROWS,
                  seed: int = SAMPLE_SEED) -> DatasetProfile:
    """Profile ``table`` out of core (see the module's docstring); the uniform sample of
    ``sample_rows`` rows is drawn on the way and kept (``table.sample()`` returns it)."""
    started = time.perf_counter()
    ddf = table.frame
    meta = ddf._meta
    names = table.columns
    kinds = {str(n): _dtype_kind(meta[n]) for n in meta.columns}
    # pass 1: counts, min, max, sums, memory; distinct values estimated
    stats_parts = ddf.map_partitions(_partition_stats, kinds, meta=_STATS_META)
    approx = [ddf[n].nunique_approx() for n in names]
    parts, *estimates = table.compute(stats_parts, *approx)
    per_column = parts.groupby("column", sort=False).agg(
        rows=("rows", "sum"), count=("count", "sum"), min=("min", "min"), max=("max", "max"),
        sum=("sum", "sum"), tmin=("tmin", "min"), tmax=("tmax", "max"), memory=("memory", "sum"))
    n_rows = int(per_column["rows"].iloc[0]) if len(per_column) else 0
    table._n_rows = n_rows  # exact, counted now
    estimated = dict(zip(names, (float(e) for e in estimates), strict=True))

    # pass 2: moments, quartiles, exact value counts, the sample
    numeric = [n for n in names if kinds[n] == "numeric" and per_column.loc[n, "count"] > 0]
    means = {n: float(per_column.loc[n, "sum"] / per_column.loc[n, "count"]) for n in numeric}
    exact = [n for n in names if estimated[n] <= EXACT_DISTINCT]
    work: list[Any] = [table.sample_collection(sample_rows, seed)]
    if numeric:
        work.append(ddf.map_partitions(_partition_moments, means, meta=_MOMENTS_META))
        work.append(ddf[numeric].quantile(list(QUARTILES)))
    work += [ddf[n].value_counts(dropna=True) for n in exact]
    drawn, *results = table.compute(*work)
    sample = table.finish_sample(drawn, sample_rows, seed)
    moments = quartiles = None
    if numeric:
        moments = results.pop(0).groupby("column", sort=False).sum()
        quartiles = results.pop(0)
    counts = dict(zip(exact, results, strict=True))

    columns = []
    for name in names:
        count = int(per_column.loc[name, "count"])
        n_missing = n_rows - count
        approximate = name not in counts
        # dask's HyperLogLog errs by a few percent either way; never more than the values
        n_unique = min(round(estimated[name]), count) if approximate else len(counts[name])
        kind = kinds[name] or _kind(meta[name], n_unique, count)
        stats: dict[str, Any] = {}
        if count and kind == "numeric" and moments is not None and quartiles is not None:
            stats = _numeric_stats(count, float(per_column.loc[name, "min"]),
                                   float(per_column.loc[name, "max"]),
                                   float(per_column.loc[name, "sum"]), moments.loc[name])
            stats.update({f"p{round(q * 100)}": float(quartiles.loc[q, name])
                          for q in QUARTILES})
        elif count and kind == "datetime":
            stats = {"min": pd.Timestamp(int(per_column.loc[name, "tmin"])).isoformat(),
                     "max": pd.Timestamp(int(per_column.loc[name, "tmax"])).isoformat()}
        elif count:
            ranked = counts.get(name)
            if ranked is None:  # too many distinct values to count: the sample's most common
                ranked = sample[name].dropna().astype(str).value_counts()
                stats["top_in_sample"] = True
            ranked = ranked.sort_values(ascending=False, kind="stable")
            if len(ranked):
                stats.update(top=str(ranked.index[0]), top_count=int(ranked.iloc[0]))
        if approximate and count:
            stats["n_unique_approximate"] = True
        columns.append(ColumnProfile(
            name=name, kind=kind, dtype=str(meta[name].dtype), n_missing=n_missing,
            n_unique=n_unique, missing_share=float(n_missing / n_rows) if n_rows else 0.0,
            stats=stats))
    logger.info("profiled %s out of core: %d rows, %d columns in %.1f s", table.path, n_rows,
                len(names), time.perf_counter() - started)
    return DatasetProfile(n_rows=n_rows, n_columns=len(names),
                          memory_bytes=int(per_column["memory"].sum()), columns=tuple(columns),
                          out_of_core=True, sample_rows=len(sample))
