"""Datasets the catalog registers by reference: large ones (``hub_kernel.data.large``).

A Parquet folder, a CSV glob, or a file over the memory budget is not copied into
``$HUB_HOME``: the catalog keeps its path, a cheap fingerprint of its files (size, modification
time, a hash of their first and last 64 KiB), its out-of-core profile, its validation report
and the uniform sample analyses run on (``SAMPLE_ROWS`` rows). Opening such a dataset checks
the fingerprint first: a file that vanished, changed or appeared since is named in a
``DataError`` and nothing stale is used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from hub_kernel.data.large import (
    LazyTable,
    check_fingerprint,
    fingerprint,
    is_glob,
    open_table,
)
from hub_kernel.data.large_profile import profile_table
from hub_kernel.data.profile import DatasetProfile
from hub_kernel.data.validation import Issue, validate
from hub_kernel.exceptions import CatalogError, DataError

logger = logging.getLogger("hub_kernel")
SAMPLE_FILE = "sample.parquet"
PROFILE_FILE = "profile.json"


def reference_path(source: str | os.PathLike[str]) -> str:
    """The absolute form of a path or glob, as the catalog keeps it."""
    text = os.fspath(source)
    if is_glob(text):
        return str(Path(text).expanduser().absolute())
    return str(Path(text).expanduser().resolve())


def reference_id(path: str, stamp: dict[str, Any]) -> str:
    """The catalog id of the dataset at ``path`` with fingerprint ``stamp``."""
    return hashlib.sha256(f"ref\0{path}\0{stamp['digest']}".encode()).hexdigest()[:16]


def default_name(source: str | os.PathLike[str]) -> str:
    """The dataset name of ``source``: a glob as given, else the file or folder name."""
    text = os.fspath(source)
    return text if is_glob(text) else Path(reference_path(text)).name


def read_reference(path: str, files: list[Path], stamp: dict[str, Any]
                   ) -> tuple[LazyTable, DatasetProfile, pd.DataFrame]:
    """Open ``path`` lazily and profile it out of core: ``(table, profile, sample)``.
    ``DataError`` when its files changed while they were read (``stamp``: taken before)."""
    table = open_table(path)
    profile = profile_table(table)
    sample = table.sample()
    if fingerprint(files)["digest"] != stamp["digest"]:
        raise DataError(path, "changed while it was being read; ingest it again once it is "
                              "written")
    return table, profile, sample


def reference_of(path: str, table: LazyTable, stamp: dict[str, Any]) -> dict[str, Any]:
    """What a catalog record keeps of a dataset registered by reference."""
    return {"path": path, "format": table.format, "fingerprint": stamp}


def validate_sample(sample: pd.DataFrame, schema: Any, name: str,
              profile: DatasetProfile) -> Any:
    """The validation report: missing values and distinct counts from the exact profile,
    row-level checks (formats, outliers, duplicates, the schema) on the sample."""
    report = validate(sample, schema, name=name, profile=profile)
    if profile.sampled:
        report.issues.append(Issue(
            "sample", "info", f"row-level checks (formats, outliers, duplicate rows, the "
            f"schema) ran on a uniform random sample of {len(sample):,} of "
            f"{profile.n_rows:,} rows; missing-value counts are exact", count=len(sample)))
    return dataclasses.replace(report, n_rows=profile.n_rows)


def store_reference(datasets_dir: Path, record: dict[str, Any], sample: pd.DataFrame,
                    profile: DatasetProfile, report: Any, schema: Any) -> None:
    """Write a record registered by reference (its sample, ready for Parquet, its profile,
    report and schema) into ``datasets_dir/<id>``, atomically."""
    from hub_kernel.data.validation import save_schema

    datasets_dir.mkdir(parents=True, exist_ok=True)
    tmp = datasets_dir / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        sample.to_parquet(tmp / SAMPLE_FILE, index=False)
        (tmp / PROFILE_FILE).write_text(json.dumps(profile.to_dict(), default=str),
                                        encoding="utf-8")
        (tmp / "report.json").write_text(json.dumps(report.to_dict(), default=str),
                                         encoding="utf-8")
        if schema is not None:
            save_schema(schema, tmp / "schema.json")
        (tmp / "meta.json").write_text(json.dumps(record, indent=2, default=str),
                                       encoding="utf-8")
        target = datasets_dir / record["id"]
        try:
            tmp.rename(target)
        except OSError:
            if not (target / "meta.json").is_file():
                raise
    except (OSError, ValueError, TypeError) as exc:
        raise CatalogError(f"cannot register dataset {record['name']!r} in {datasets_dir}: "
                           f"{exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def open_reference(reference: dict[str, Any]) -> LazyTable:
    """The dataset a record refers to, opened lazily, once its files match its fingerprint."""
    check_fingerprint(reference["path"], reference["fingerprint"])
    return open_table(reference["path"])


def load_reference(folder: Path, reference: dict[str, Any], n_rows: int) -> pd.DataFrame:
    """The uniform sample kept at ingest in ``folder`` (``attrs["hub_sample"]`` says of how
    many rows), once the files match their fingerprint."""
    check_fingerprint(reference["path"], reference["fingerprint"])
    path = folder / SAMPLE_FILE
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:
        raise CatalogError(f"the sample of dataset {folder.name} cannot be read from {path}: "
                           f"{exc}") from exc
    frame.attrs["hub_sample"] = {"rows": len(frame), "of": n_rows}
    frame.attrs["hub_source"] = {"source": reference["path"], "format": reference["format"],
                                 "rows": n_rows, "out_of_core": True}
    return frame


def stored_profile(folder: Path) -> DatasetProfile:
    """The out-of-core profile computed at ingest, kept in ``folder``."""
    path = folder / PROFILE_FILE
    try:
        return DatasetProfile.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise CatalogError(f"the profile of dataset {folder.name} cannot be read from {path}: "
                           f"{exc}") from exc
