"""Reading tables from files into pandas DataFrames.

A first, small reader (CSV and Parquet) with clear errors; the registry of sources with Excel,
JSON and streams grows from here.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from hub_kernel.data.samples import sample_path
from hub_kernel.exceptions import DataError

logger = logging.getLogger("hub_kernel")

_READERS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}
# a text column becomes a date column when this share of its sampled non-null values parse
_DATE_SHARE = 0.95
_DATE_SAMPLE = 200


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CSV or Parquet file; text columns holding dates become datetime columns.

    Raises ``DataError`` naming the file and the problem when it cannot be read.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(path, "file not found")
    if path.is_dir():
        raise DataError(path, "is a folder, not a file")
    kind = _READERS.get(path.suffix.lower())
    if kind is None:
        supported = ", ".join(sorted(_READERS))
        raise DataError(path, f"unsupported file type {path.suffix!r}; supported: {supported}")
    if path.stat().st_size == 0:
        raise DataError(path, "file is empty")
    try:
        if kind == "csv":
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            frame = pd.read_csv(path, sep=sep, engine="pyarrow")
        else:
            frame = pd.read_parquet(path)
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except Exception as exc:  # pyarrow and pandas raise many types for malformed files
        raise DataError(path, f"cannot be parsed as {kind.upper()}: {exc}") from exc
    if frame.shape[1] == 0:
        raise DataError(path, "has no columns")
    return coerce_dates(frame)


def coerce_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """Convert text columns whose values are dates into datetime columns (in a copy)."""
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
            continue
        sample = column.dropna().head(_DATE_SAMPLE)
        if sample.empty or not sample.map(_has_digit).all():
            continue
        parsed = pd.to_datetime(sample, errors="coerce")
        if parsed.notna().mean() >= _DATE_SHARE:
            out[name] = pd.to_datetime(column, errors="coerce")
    return out


def _has_digit(value: object) -> bool:
    return isinstance(value, str) and any(c.isdigit() for c in value)


def load_dataset(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """The dataset to show: ``path``, else ``HUB_DATASET``, else the bundled sample."""
    from hub_kernel.config import get_settings

    chosen = path or get_settings().dataset or sample_path()
    logger.info("loading dataset %s", chosen)
    return read_table(chosen)
