"""Data larger than memory: Parquet files or folders and CSV globs opened lazily with
``dask.dataframe``.

A dataset whose size on disk exceeds the memory budget (``HUB_MEMORY_BUDGET_BYTES``, default a
quarter of this machine's memory) is never loaded whole: ``open_table`` returns a ``LazyTable``
(a dask DataFrame and the files behind it), ``hub_kernel.data.large_profile.profile_table``
profiles it out of core, and analyses run on a uniform random sample of ``SAMPLE_ROWS`` rows
(``LazyTable.sample``: bottom-k over seeded random keys, one pass, no row count needed) that
every result and tile states. Folders and globs are always opened
this way, whatever their size (a small one is then its own "sample": every row).

>>> table = open_table("data/events/")          # a folder of Parquet files
>>> table.n_rows, table.sample().attrs["hub_sample"]
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from hub_kernel.data.io.budget import human_bytes
from hub_kernel.data.io.dates import coerce_dates
from hub_kernel.exceptions import DataError

logger = logging.getLogger("hub_kernel")

#: rows of the uniform random sample analyses and charts of a large dataset run on
SAMPLE_ROWS = 50_000
SAMPLE_SEED = 0
_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".tsv", ".txt")
_FINGERPRINT_BLOCK = 64 * 2**10  # first and last bytes hashed per file (a Parquet footer)
_GLOB_CHARS = set("*?[")
Format = Literal["parquet", "csv"]


def memory_budget_bytes() -> int:
    """The memory budget: ``HUB_MEMORY_BUDGET_BYTES``, else a quarter of this machine's
    memory."""
    from hub_kernel.core.config import get_settings

    configured = get_settings().memory_budget_bytes
    if configured is not None:
        return configured
    import psutil

    return int(psutil.virtual_memory().total // 4)


def is_glob(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a glob pattern (``data/*.csv``) rather than one path."""
    return isinstance(path, str) and bool(_GLOB_CHARS & set(path)) and not Path(path).exists()


def dataset_files(path: str | os.PathLike[str]) -> tuple[Format, list[Path]]:
    """The format and the files of ``path``: a Parquet or CSV file, a folder of Parquet files
    (searched recursively, as hive partitions are) or a glob of CSV or Parquet files.

    ``DataError`` names the path when it matches nothing readable or mixes formats."""
    text = os.fspath(path)
    if is_glob(text):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not files:
            raise DataError(text, "matches no file")
    else:
        root = Path(text)
        if not root.exists():
            raise DataError(root, "file or folder not found")
        if root.is_dir():
            files = sorted(p for p in root.rglob("*") if p.is_file()
                           and p.suffix.lower() in _PARQUET and not p.name.startswith((".", "_")))
            if not files:
                raise DataError(root, "is a folder with no Parquet files (*.parquet, *.pq)")
        else:
            files = [root]
    suffixes = {p.suffix.lower() for p in files}
    if suffixes <= set(_PARQUET):
        return "parquet", files
    if suffixes <= set(_CSV):
        return "csv", files
    raise DataError(text, f"mixes or holds unsupported file types ({', '.join(sorted(suffixes))})"
                          "; a large dataset is Parquet files or CSV files")


def disk_bytes(files: list[Path]) -> int:
    """The size of ``files`` on disk."""
    return sum(p.stat().st_size for p in files)


def is_lazy_input(path: str | os.PathLike[str] | bytes | None) -> bool:
    """Whether ``path`` is opened out of core: a folder or glob of Parquet/CSV files, or a
    Parquet/CSV file larger than the memory budget."""
    if path is None or isinstance(path, bytes | bytearray):
        return False
    text = os.fspath(path)
    if "://" in text:
        return False
    if Path(text).is_dir() or is_glob(text):
        return True
    if not Path(text).is_file() or Path(text).suffix.lower() not in _PARQUET + _CSV:
        return False
    return Path(text).stat().st_size > memory_budget_bytes()


def _dask_dataframe(path: str) -> Any:
    try:
        import dask.dataframe as dd
    except ImportError:
        raise DataError(path, "is read out of core (a folder, a glob, or larger than the "
                              "memory budget) with dask, which is not installed: "
                              "pip install 'hub[dask]'") from None
    return dd


def sample_note(sample_rows: int, total_rows: int) -> str:
    """What a result computed on a sample says: ``sample of 50,000 of 11,000,000 rows``."""
    return (f"Computed on a uniform random sample of {sample_rows:,} of {total_rows:,} rows "
            f"(seed {SAMPLE_SEED}); counts of rows and missing values are exact.")


class LazyTable:
    """A dataset opened out of core: ``frame`` is a dask DataFrame over ``files``."""

    def __init__(self, path: str, format: Format, files: list[Path], frame: Any,
                 n_rows: int | None = None) -> None:
        self.path, self.format, self.files, self.frame = path, format, files, frame
        self.disk_bytes = disk_bytes(files)
        self._n_rows = n_rows
        self._samples: dict[tuple[int, int], pd.DataFrame] = {}

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    @property
    def n_rows(self) -> int:
        """The exact number of rows (from the Parquet footers, else counted once)."""
        if self._n_rows is None:
            self._n_rows = int(self.compute(self.frame.shape[0])[0])
        return self._n_rows

    def compute(self, *collections: Any) -> tuple[Any, ...]:
        """``dask.compute`` of ``collections`` (sharing their reads); a failure to read a file
        is a ``DataError`` naming the dataset."""
        import dask

        try:
            # one partition at a time: the work holds the GIL, so threads add memory, not speed
            return tuple(dask.compute(*collections, scheduler="synchronous"))
        except MemoryError:
            raise DataError(self.path, "ran out of memory while read out of core: one of its "
                                       "files or row groups is too large to hold; write it "
                                       "in smaller files or row groups") from None
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise DataError(self.path, f"cannot be read out of core: {type(exc).__name__}: "
                                       f"{str(exc).strip()[:500]}") from exc
        except Exception as exc:  # pyarrow's errors are ArrowException (not always OSError)
            if type(exc).__module__.startswith("pyarrow"):
                raise DataError(self.path, f"cannot be read: {exc}") from exc
            raise

    def reduce(self, leaf: Any, merge: Any) -> Any:
        """``leaf(partition, index)`` of every partition, folded in row order with
        ``merge(a, b)``: one partition is read and summarised at a time, so memory holds one
        partition and the running summary, whatever the size of the data."""
        from dask import delayed

        total = None
        for index, part in enumerate(self.frame.to_delayed()):
            try:
                (summary,) = self.compute(delayed(leaf)(part, index))
            except DataError:
                self._name_broken_file()
                raise
            total = summary if total is None else merge(total, summary)
        if total is None:
            raise DataError(self.path, "has no data")
        return total

    def _name_broken_file(self) -> None:
        """After a failed read, find the Parquet file (and row group) that cannot be read,
        one row group at a time, and raise a ``DataError`` naming it."""
        if self.format != "parquet":
            return
        import pyarrow.parquet as pq

        for file in self.files:
            try:
                parquet = pq.ParquetFile(file)
                for group in range(parquet.metadata.num_row_groups):
                    try:
                        parquet.read_row_group(group)
                    except Exception as exc:  # pyarrow raises OSError, ArrowInvalid, ...
                        raise DataError(file, f"row group {group} cannot be read: {exc}"
                                        ) from None
            except DataError:
                raise
            except Exception as exc:
                raise DataError(file, f"cannot be read: {exc}") from None

    def finish_sample(self, drawn: Sample, n: int = SAMPLE_ROWS,
                      seed: int = SAMPLE_SEED) -> pd.DataFrame:
        """The sample ``drawn`` (``draw_sample`` over every partition, merged), in the
        dataset's row order, with ``attrs["hub_sample"] = {"rows", "of", "seed"}``."""
        rows = drawn.rows.iloc[np.argsort(drawn.order, kind="stable")]
        frame = _as_pandas_types(rows.reset_index(drop=True))
        frame.attrs["hub_sample"] = {"rows": len(frame), "of": self.n_rows, "seed": seed}
        frame.attrs["hub_source"] = {"format": self.format, "source": self.path,
                                     "rows": self.n_rows, "columns": frame.shape[1],
                                     "files": len(self.files), "out_of_core": True}
        self._samples[(n, seed)] = frame
        return frame

    def sample(self, n: int = SAMPLE_ROWS, seed: int = SAMPLE_SEED) -> pd.DataFrame:
        """A uniform random sample of ``n`` rows (every row when there are fewer), seeded:
        one pass, each partition's ``n`` rows of smallest random key kept (bottom-k)."""
        cached = self._samples.get((n, seed))
        if cached is not None:
            return cached
        cutoff = self.sample_cutoff(n)
        drawn = self.reduce(lambda part, index: draw_sample(part, index, n, seed, cutoff),
                            lambda a, b: merge_samples(a, b, n))
        if len(drawn.keys) < min(n, self.n_rows):  # below the cutoff: all but impossible
            drawn = self.reduce(lambda part, index: draw_sample(part, index, n, seed),
                                lambda a, b: merge_samples(a, b, n))
        return self.finish_sample(drawn, n, seed)

    def sample_cutoff(self, n: int) -> float:
        """The random key under which a row may be among the ``n`` of smallest key, when the
        rows are known in advance (Parquet footers); 1 otherwise. The n-th smallest of N
        uniform keys is about n/N: the cutoff sits far above it."""
        if self._n_rows is None or n >= self._n_rows:
            return 1.0
        return min(1.0, (1.1 * n + 8 * np.sqrt(n) + 20) / self._n_rows)

    def __repr__(self) -> str:
        return (f"<LazyTable {self.path!r}: {len(self.files)} {self.format} file(s), "
                f"{human_bytes(self.disk_bytes)} on disk>")


@dataclass
class Sample:
    """A bottom-k sample: ``rows`` with their random ``keys`` and their ``order`` in the
    dataset (partition, row)."""

    rows: pd.DataFrame
    keys: np.ndarray
    order: np.ndarray


def draw_sample(part: pd.DataFrame, index: int, n: int, seed: int,
                cutoff: float = 1.0) -> Sample:
    """The ``n`` rows of ``part`` (partition ``index``) with the smallest random keys, among
    those under ``cutoff``: merged over partitions (``merge_samples``) this is a uniform
    sample of ``n`` rows of the whole."""
    keys = np.random.default_rng([seed, index]).random(len(part))
    keep = np.flatnonzero(keys < cutoff) if cutoff < 1.0 else np.arange(len(part))
    if len(keep) > n:
        keep = np.sort(keep[np.argpartition(keys[keep], n)[:n]])
    order = (np.int64(index) << np.int64(40)) + keep.astype("int64")
    return Sample(part.iloc[keep], keys[keep], order)


def merge_samples(a: Sample, b: Sample, n: int) -> Sample:
    """The ``n`` rows of smallest key of two bottom-k samples."""
    keys = np.concatenate([a.keys, b.keys])
    order = np.concatenate([a.order, b.order])
    rows = pd.concat([a.rows, b.rows], ignore_index=True)
    if len(keys) > n:
        keep = np.sort(np.argpartition(keys, n)[:n])
        rows, keys, order = rows.iloc[keep], keys[keep], order[keep]
    return Sample(rows, keys, order)


def _as_pandas_types(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns typed as ``read_table`` types them (pandas' default text dtype, NaN for
    missing), not dask's Arrow strings with ``pd.NA``."""
    for name in frame.columns:
        dtype = frame[name].dtype
        if isinstance(dtype, pd.StringDtype) and dtype.na_value is pd.NA:
            frame[name] = frame[name].astype("str")
    return frame


def _check_parquet(files: list[Path]) -> int:
    """Read every file's footer (cheap): the rows in all; a broken file is named."""
    import pyarrow.parquet as pq

    rows = 0
    for file in files:
        try:
            rows += pq.read_metadata(file).num_rows
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
            raise DataError(file, f"is not a readable Parquet file: {exc}") from None
    return rows


def _csv_dialect(file: Path) -> dict[str, Any]:
    """Encoding, delimiter and decimal mark of a CSV file, detected from its first 64 KiB as
    ``read_table`` detects them."""
    from hub_kernel.data.io.base import SourceInput
    from hub_kernel.data.io.csv_detect import detect_decimal, detect_delimiter, detect_encoding

    with file.open("rb") as handle:
        head = handle.read(1 << 16)
    encoding = detect_encoding(SourceInput(label=str(file), name=file.name, path=file), head)
    codec = "utf-8-sig" if encoding.codec == "utf-8" and encoding.bom else encoding.codec
    text = head[encoding.bom:].decode(encoding.codec, errors="ignore")
    lines = text.splitlines()[:-1] or text.splitlines()  # the last line may be cut
    delimiter = detect_delimiter(lines, None)
    return {"encoding": codec, "sep": delimiter, "decimal": detect_decimal(text, delimiter)}


def open_table(path: str | os.PathLike[str]) -> LazyTable:
    """Open ``path`` (Parquet file or folder, CSV file or glob) lazily with dask.dataframe.

    Nothing is loaded: Parquet footers are read (a broken file is named in a ``DataError``),
    and for CSV the first block, to find date columns."""
    text = os.fspath(path)
    format, files = dataset_files(text)
    dd = _dask_dataframe(text)
    names = [str(p) for p in files]
    if format == "parquet":
        rows = _check_parquet(files)
        try:
            # a partition is a file, or row groups of at most 1/16 of the budget
            frame = dd.read_parquet(names, split_row_groups="infer",
                                    blocksize=min(256 * 2**20, max(8 * 2**20,
                                                                   memory_budget_bytes() // 16)))
        except Exception as exc:
            raise DataError(text, f"cannot be opened as Parquet: {exc}") from exc
        table = LazyTable(text, format, files, frame, n_rows=rows)
    else:
        from hub_kernel.core.config import get_settings

        try:
            frame = dd.read_csv(names, blocksize=get_settings().csv_block_bytes,
                                assume_missing=True, sample=1_000_000, **_csv_dialect(files[0]))
        except Exception as exc:
            raise DataError(text, f"cannot be opened as CSV: {exc}") from exc
        head = frame.head(2_000, npartitions=1, compute=False)
        table = LazyTable(text, format, files, frame)
        (first,) = table.compute(head)
        dated = coerce_dates(first.copy())
        for name in first.columns:
            if pd.api.types.is_datetime64_any_dtype(dated[name]) and not \
                    pd.api.types.is_datetime64_any_dtype(first[name]):
                frame[name] = dd.to_datetime(frame[name], errors="coerce")
        table.frame = frame
    if len(set(table.columns)) != len(table.columns):
        raise DataError(text, "has several columns of the same name; rename them")
    logger.info("opened %s out of core: %d %s file(s), %s", text, len(files), format,
                human_bytes(table.disk_bytes))
    return table


# -- fingerprints ------------------------------------------------------------------------------
def _file_digest(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        digest.update(handle.read(_FINGERPRINT_BLOCK))
        if size > _FINGERPRINT_BLOCK:
            handle.seek(max(_FINGERPRINT_BLOCK, size - _FINGERPRINT_BLOCK))
            digest.update(handle.read(_FINGERPRINT_BLOCK))
    return digest.hexdigest()


def fingerprint(files: list[Path]) -> dict[str, Any]:
    """A cheap fingerprint of ``files``, no full read: per file its size, modification time
    and a hash of its first and last 64 KiB (a Parquet file's footer and metadata)."""
    entries = []
    for path in files:
        try:
            stat = path.stat()
            entries.append({"path": str(path.resolve()), "size": stat.st_size,
                            "mtime_ns": stat.st_mtime_ns,
                            "sha256_ends": _file_digest(path, stat.st_size)})
        except OSError as exc:
            raise DataError(path, f"cannot be read: {exc.strerror}") from exc
    whole = hashlib.sha256(repr([(e["path"], e["size"], e["sha256_ends"])
                                 for e in entries]).encode())
    return {"files": entries, "digest": whole.hexdigest()}


def check_fingerprint(path: str, stored: dict[str, Any]) -> list[Path]:
    """The files of ``path`` if they are still those fingerprinted in ``stored``; else a
    ``DataError`` naming the file that vanished, changed or appeared."""
    before = {e["path"]: e for e in stored["files"]}
    for entry in stored["files"]:
        file = Path(entry["path"])
        if not file.is_file():
            raise DataError(file, f"is gone: the dataset {path} was registered by reference "
                                  "and one of its files vanished; restore it or ingest the "
                                  "dataset again")
        stat = file.stat()
        if stat.st_size != entry["size"] or stat.st_mtime_ns != entry["mtime_ns"] or \
                _file_digest(file, stat.st_size) != entry["sha256_ends"]:
            raise DataError(file, f"changed since the dataset {path} was ingested (size, "
                                  "modification time or content differ from its fingerprint); "
                                  "ingest it again to use the new data")
    try:
        _format, files = dataset_files(path)
    except DataError:
        return [Path(p) for p in before]
    for file in files:
        if str(file.resolve()) not in before:
            raise DataError(file, f"appeared in the dataset {path} since it was ingested; "
                                  "ingest it again to include it")
    return files
