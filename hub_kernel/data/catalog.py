"""The dataset catalog under ``$HUB_HOME/catalog``.

Every ingested table is stored once, as Parquet, keyed by the hash of the bytes it came from
(and the sheet, for workbooks): ingesting the same file again returns the stored dataset. A
dataset name (usually the file name) groups successive batches; a pandera schema declared for a
name is checked on every new batch. Writes go to a temporary folder renamed into place, so a
crash or bad input never leaves a half-written dataset behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from hub_kernel.data.io import downloaded, public_url, read_table
from hub_kernel.data.large import LazyTable, dataset_files, fingerprint, is_lazy_input
from hub_kernel.data.profile import DatasetProfile, profile_dataset
from hub_kernel.data.validation import (
    ColumnReport,
    Issue,
    ValidationReport,
    load_schema,
    save_schema,
    validate,
)
from hub_kernel.exceptions import CatalogError, DataError

logger = logging.getLogger("hub_kernel")

Source = str | os.PathLike[str] | bytes
_HASH_BLOCK = 8 * 2**20
_STALE_TMP_SECONDS = 3600


@dataclass(frozen=True)
class DatasetRecord:
    """What the catalog knows about one stored dataset (one batch)."""

    id: str
    name: str
    source: str
    content_hash: str
    ingested_at: str
    n_rows: int
    n_columns: int
    columns: dict[str, str]
    valid: bool
    n_errors: int
    n_warnings: int
    source_info: dict[str, Any] = field(default_factory=dict)
    sheet: str | None = None
    #: a large dataset registered by reference, not copied: its path, format and file
    #: fingerprint (``hub_kernel.data.catalog_ref``); None for a stored copy
    reference: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class IngestResult:
    record: DatasetRecord
    report: ValidationReport
    created: bool  # False when the same content was already in the catalog


def slug(name: str) -> str:
    """A file-system-safe form of a dataset name."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:80] or "dataset"
    if cleaned != name:
        cleaned += "-" + hashlib.sha256(name.encode()).hexdigest()[:6]
    return cleaned


def _report_from_dict(data: dict[str, Any]) -> ValidationReport:
    return ValidationReport(
        name=data["name"],
        n_rows=data["n_rows"],
        n_columns=data["n_columns"],
        columns=[ColumnReport(**c) for c in data["columns"]],
        issues=[Issue(**{**i, "examples": tuple(i["examples"])}) for i in data["issues"]],
        schema_checked=data.get("schema_checked", False),
    )


_ARROW_SAFE = {
    "string",
    "empty",
    "bytes",
    "floating",
    "integer",
    "mixed-integer-float",
    "decimal",
    "boolean",
    "datetime64",
    "datetime",
    "date",
    "timedelta64",
    "timedelta",
    "time",
    "period",
    "categorical",
}


def _parquet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Column names as text, and object columns Arrow cannot type (mixed values, lists,
    dicts) as text, keeping missing values missing, so Parquet can hold them."""
    out = frame.copy(deep=False)
    out.columns = [str(c) for c in out.columns]
    for position, _name in enumerate(out.columns):
        column = out.iloc[:, position]
        if (
            pd.api.types.is_object_dtype(column)
            and pd.api.types.infer_dtype(column, skipna=True) not in _ARROW_SAFE
        ):
            out.isetitem(position, column.astype("string"))
    return out


class Catalog:
    """Datasets stored under ``root`` (default ``$HUB_HOME/catalog``)."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        if root is None:
            from hub_kernel.core.config import get_settings

            root = get_settings().catalog_dir
        self.root = Path(root)
        self.datasets_dir = self.root / "datasets"
        self.schemas_dir = self.root / "schemas"

    # -- writing ---------------------------------------------------------------------------
    def ingest(
        self,
        source: Source,
        *,
        name: str | None = None,
        sheet: str | int | None = None,
        schema: Any = None,
    ) -> IngestResult:
        """Read, validate and store ``source`` (a path, URL or bytes) unless already stored.

        ``schema`` (a pandera schema or a path to one) is declared for the dataset ``name``
        first; every batch of a name with a declared schema is checked against it. Bad input
        raises ``DataError`` and stores nothing.
        """
        if not isinstance(source, bytes) and is_lazy_input(source):
            return self._ingest_reference(source, name=name, schema=schema)
        name, label = self._name_and_label(source, name)
        if isinstance(source, str) and re.match(r"^https?://", source, re.I):
            with downloaded(source) as (local, file_name):
                try:
                    return self._ingest(local, name=name, label=label, sheet=sheet,
                                        schema=schema, file_name=file_name)
                except DataError as exc:  # name the URL, not the temporary file
                    raise DataError(label, exc.reason) from exc
        return self._ingest(source, name=name, label=label, sheet=sheet, schema=schema)

    def _ingest(self, source: Source, *, name: str, label: str, sheet: str | int | None,
                schema: Any, file_name: str | None = None) -> IngestResult:
        content_hash = self._hash(source, sheet)
        dataset_id = content_hash[:16]
        if isinstance(schema, str | Path):
            schema = load_schema(schema)
        existing = self._read_record(dataset_id)
        if existing is not None:  # same bytes (and sheet): stored once, whatever its name
            if schema is not None:
                self.declare_schema(name, schema)
            declared = self.declared_schema(name)
            if declared is None and name == existing.name:
                return IngestResult(existing, self.report(dataset_id), created=False)
            # checked against the schema in force for the name asked for now
            report = validate(self.load(dataset_id), declared, name=name)
            return IngestResult(existing, report, created=False)

        given_name = file_name or (label if isinstance(source, bytes) else None)
        frame = read_table(source, name=given_name, sheet=sheet)
        if schema is not None:  # declared only once the input has proved readable
            self.declare_schema(name, schema)
        declared = self.declared_schema(name)
        profile = profile_dataset(frame)
        report = validate(frame, declared, name=name, profile=profile)
        info = dict(frame.attrs.get("hub_source", {}))
        if file_name is not None:  # downloaded: the temporary file is no source to keep
            info["source"] = label
        record = DatasetRecord(
            id=dataset_id,
            name=name,
            source=label,
            content_hash=content_hash,
            ingested_at=datetime.now(UTC).isoformat(timespec="microseconds"),
            n_rows=len(frame),
            n_columns=frame.shape[1],
            columns={str(c.name): c.dtype for c in profile.columns},
            valid=report.ok,
            n_errors=len(report.errors),
            n_warnings=len(report.warnings),
            source_info={k: v for k, v in info.items() if isinstance(v, str | int | float | bool)},
            sheet=None if sheet is None else str(sheet),
        )
        self._store(record, frame, report, declared)
        logger.info("ingested %s as %s (%d rows)", label, dataset_id, len(frame))
        return IngestResult(record, report, created=True)

    def _ingest_reference(self, source: str | os.PathLike[str], *, name: str | None,
                          schema: Any) -> IngestResult:
        """Register a large dataset by reference (``hub_kernel.data.catalog_ref``): its
        path, fingerprint, out-of-core profile and a uniform sample; its data is not copied."""
        from hub_kernel.data import catalog_ref as ref

        path = ref.reference_path(source)
        name = name or ref.default_name(source)
        _format, files = dataset_files(path)
        stamp = fingerprint(files)
        dataset_id = ref.reference_id(path, stamp)
        if isinstance(schema, str | Path):
            schema = load_schema(schema)
        existing = self._read_record(dataset_id)
        if existing is not None:  # the same files, unchanged: registered once
            if schema is not None:
                self.declare_schema(name, schema)
            declared = self.declared_schema(name)
            if declared is None and name == existing.name:
                return IngestResult(existing, self.report(dataset_id), created=False)
            report = ref.validate_sample(self.load(dataset_id), declared, name,
                                         self.profile(dataset_id))
            return IngestResult(existing, report, created=False)
        table, profile, sample = ref.read_reference(path, files, stamp)
        if schema is not None:  # declared only once the input has proved readable
            self.declare_schema(name, schema)
        declared = self.declared_schema(name)
        report = ref.validate_sample(sample, declared, name, profile)
        record = DatasetRecord(
            id=dataset_id, name=name, source=path, content_hash=stamp["digest"],
            ingested_at=datetime.now(UTC).isoformat(timespec="microseconds"),
            n_rows=profile.n_rows, n_columns=profile.n_columns,
            columns={c.name: c.dtype for c in profile.columns}, valid=report.ok,
            n_errors=len(report.errors), n_warnings=len(report.warnings),
            source_info={"format": table.format, "files": len(files),
                         "disk_bytes": table.disk_bytes, "sample_rows": len(sample)},
            reference=ref.reference_of(path, table, stamp))
        self._clean_stale()
        ref.store_reference(self.datasets_dir, record.to_dict(), _parquet_safe(sample),
                            profile, report, declared)
        logger.info("registered %s by reference as %s (%d rows)", path, dataset_id,
                    profile.n_rows)
        return IngestResult(record, report, created=True)

    def declare_schema(self, name: str, schema: Any) -> Path:
        """Declare the pandera schema every batch of dataset ``name`` must meet."""
        return save_schema(schema, self.schemas_dir / f"{slug(name)}.json")

    # -- reading ---------------------------------------------------------------------------
    def datasets(self) -> list[DatasetRecord]:
        """All stored datasets, oldest first."""
        if not self.datasets_dir.is_dir():
            return []
        records = []
        for folder in self.datasets_dir.iterdir():
            if folder.name.startswith(".tmp-"):
                continue
            record = self._read_record(folder.name)
            if record is not None:
                records.append(record)
        return sorted(records, key=lambda r: (r.ingested_at, r.id))

    def find_or_ingest(self, source: str) -> tuple[DatasetRecord, bool | None]:
        """A catalog id or name, or a file or http(s) URL ingested first: ``(record, created)``
        where ``created`` is None for a dataset already named, else what ``ingest`` said."""
        if Path(source).is_file() or is_lazy_input(source) or re.match(r"^https?://", source,
                                                                        re.I):
            ingested = self.ingest(source)
            return ingested.record, ingested.created
        return self.get(source), None

    def get(self, key: str) -> DatasetRecord:
        """A dataset by id, unique id prefix, or name (then its latest batch)."""
        records = self.datasets()
        exact = [r for r in records if r.id == key]
        if exact:
            return exact[0]
        by_name = [r for r in records if r.name == key]
        if by_name:
            return by_name[-1]
        prefixed = [r for r in records if len(key) >= 4 and r.id.startswith(key)]
        if len(prefixed) == 1:
            return prefixed[0]
        if len(prefixed) > 1:
            raise CatalogError(f"{key!r} matches several datasets: {[r.id for r in prefixed]}")
        raise CatalogError(
            f"no dataset {key!r} in the catalog at {self.root}; `hub ingest PATH` adds one"
        )

    def batches(self, name: str) -> list[DatasetRecord]:
        return [r for r in self.datasets() if r.name == name]

    def load(self, key: str) -> pd.DataFrame:
        """The stored table of a dataset; of one registered by reference, the uniform sample
        kept at ingest (once its files are checked against their fingerprint)."""
        record = self.get(key)
        if record.reference:
            from hub_kernel.data.catalog_ref import load_reference

            return load_reference(self.datasets_dir / record.id, record.reference,
                                  record.n_rows)
        path = self.datasets_dir / record.id / "data.parquet"
        try:
            return pd.read_parquet(path)
        except Exception as exc:
            raise CatalogError(f"dataset {record.id} cannot be read from {path}: {exc}") from exc

    def profile(self, key: str) -> DatasetProfile:
        """The profile of a dataset: the out-of-core one kept at ingest for a dataset
        registered by reference, else the stored table's."""
        record = self.get(key)
        if record.reference:
            from hub_kernel.data.catalog_ref import stored_profile

            return stored_profile(self.datasets_dir / record.id)
        return profile_dataset(self.load(record.id))

    def open(self, key: str) -> LazyTable:
        """A dataset registered by reference, opened lazily with dask (``CatalogError`` for a
        stored copy, ``DataError`` naming a file that changed or vanished)."""
        from hub_kernel.data.catalog_ref import open_reference

        record = self.get(key)
        if not record.reference:
            raise CatalogError(f"dataset {record.id} is a copy stored in the catalog, not a "
                               "dataset registered by reference; use load()")
        return open_reference(record.reference)

    def report(self, key: str) -> ValidationReport:
        """The validation report stored with a dataset."""
        record = self.get(key)
        path = self.datasets_dir / record.id / "report.json"
        return _report_from_dict(json.loads(path.read_text(encoding="utf-8")))

    def declared_schema(self, name: str) -> Any:
        path = self.schemas_dir / f"{slug(name)}.json"
        return load_schema(path) if path.is_file() else None

    # -- internals -------------------------------------------------------------------------
    @staticmethod
    def _name_and_label(source: Source, name: str | None) -> tuple[str, str]:
        if isinstance(source, bytes):
            if not name:
                raise DataError("<bytes>", "uploaded data needs a file name (name=...)")
            return name, name
        text = os.fspath(source)
        if re.match(r"^https?://", text, re.I):
            clean = public_url(text)  # no credentials or query (tokens) in the catalog or logs
            default = clean.rstrip("/").rsplit("/", 1)[-1] or clean
            query = urlsplit(text).query
            if query and "." not in default:
                # an endpoint (export?table=a vs export?table=b), not a file (sales.csv?token=)
                default += "-" + hashlib.sha256(query.encode()).hexdigest()[:8]
            return name or default, clean
        path = Path(text)
        return name or path.name, str(path.resolve())

    @staticmethod
    def _hash(source: Source, sheet: str | int | None) -> str:
        digest = hashlib.sha256()
        if isinstance(source, bytes):
            digest.update(source)
        else:
            path = Path(source)
            if not path.is_file():
                raise DataError(path, "file not found" if not path.exists() else "not a file")
            try:
                with path.open("rb") as handle:
                    while block := handle.read(_HASH_BLOCK):
                        digest.update(block)
            except OSError as exc:
                raise DataError(path, f"cannot be read: {exc.strerror}") from exc
        digest.update(f"\0sheet={sheet}".encode())
        return digest.hexdigest()

    def _read_record(self, dataset_id: str) -> DatasetRecord | None:
        meta = self.datasets_dir / dataset_id / "meta.json"
        if not meta.is_file():
            return None
        try:
            return DatasetRecord(**json.loads(meta.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            logger.warning("skipping unreadable catalog entry %s: %s", meta.parent, exc)
            return None

    def _store(
        self, record: DatasetRecord, frame: pd.DataFrame, report: ValidationReport, schema: Any
    ) -> None:
        self.datasets_dir.mkdir(parents=True, exist_ok=True)
        self._clean_stale()
        tmp = self.datasets_dir / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            try:
                _parquet_safe(frame).to_parquet(tmp / "data.parquet", index=False)
            except (ValueError, TypeError, ImportError) as exc:  # pyarrow's conversion errors
                raise CatalogError(
                    f"dataset {record.name!r} cannot be stored as Parquet: {exc}"
                ) from exc
            (tmp / "report.json").write_text(
                json.dumps(report.to_dict(), default=str), encoding="utf-8"
            )
            if schema is not None:
                save_schema(schema, tmp / "schema.json")
            (tmp / "meta.json").write_text(
                json.dumps(record.to_dict(), indent=2, default=str), encoding="utf-8"
            )
            target = self.datasets_dir / record.id
            try:
                tmp.rename(target)
            except OSError:
                if not (target / "meta.json").is_file():
                    raise
                logger.info("dataset %s was stored concurrently; keeping that copy", record.id)
        except OSError as exc:
            raise CatalogError(
                f"cannot store dataset {record.name!r} in {self.root}: {exc}"
            ) from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _clean_stale(self) -> None:
        now = time.time()
        for folder in self.datasets_dir.glob(".tmp-*"):
            try:
                if now - folder.stat().st_mtime > _STALE_TMP_SECONDS:
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                continue
