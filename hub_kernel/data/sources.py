"""Reading tables into pandas DataFrames: a registry of sources.

A *source* is one kind of file hub can read (CSV, Excel, JSON, JSON Lines, Parquet). Sources are
registered by name, as papermill registers its engines: ``register_source`` adds one (third-party
packages may also declare an entry point in the ``hub.sources`` group), ``get_source(name)``
returns one and raises ``RegistryError`` with the known names otherwise. ``read_table`` picks the
source by the file extension of the path, URL or ``name=`` given, else by the media type of a
download, else by sniffing the first bytes (zip -> xlsx, ``PAR1`` -> Parquet, ``[``/``{`` ->
JSON, text -> CSV), and reads from a path, from bytes or from an http(s) URL.

Every failure a user can cause is a ``DataError`` whose message names the file (or URL, or the
``name=`` given with bytes) and the reason; limits from ``core.config`` are enforced before
input is expanded in memory (file size, uncompressed size of a workbook, JSON depth, columns).

Decisions, which the tests pin down:

- CSV encodings: a BOM selects UTF-8/16/32; without one, UTF-16 text is recognised by its NUL
  bytes; otherwise strict UTF-8, and text that is not UTF-8 is read as cp1252 (then latin-1),
  with a logged warning and the encoding recorded: never silently. Binary data is refused.
- CSV delimiter: comma, semicolon, tab or pipe, whichever splits the sampled lines consistently.
- A header-only CSV is a frame with those columns and no rows (with a warning in the attrs).
- Ragged rows (more or fewer fields than the header) raise a ``DataError`` naming the line;
  ``on_bad_lines="skip"`` loads the rest and records the skipped lines as warnings.
- JSON ``NaN``, ``Infinity`` and ``-Infinity`` (not standard JSON, but what Python and pandas
  write) are accepted as the floats nan/inf, and counted in the warnings.
- Duplicate column names are made unique (``a``, ``a.1``), blank ones become ``Unnamed: i``;
  both are recorded. Column names are kept literally (``<script>`` stays text; escaping is the
  renderer's job).

What was read is recorded in ``frame.attrs["hub_source"]``: format, source, encoding,
delimiter, sheet, rows, columns, renamed columns, warnings.

Large CSV files are streamed: slices of ``HUB_CSV_BLOCK_BYTES`` (ending on a line end) are
parsed by pyarrow's multithreaded reader into a reused buffer, and numeric and date columns are
written into preallocated numpy arrays as they come, so peak memory stays near the size of the
resulting frame (see ``benchmarks/ingest.py``). A column whose type changes further down the
file (ints, then text) is re-inferred and the read restarted, as pandas' whole-file inference
would type it.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import logging
import mmap
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path, PurePosixPath
from typing import IO, Any, ClassVar, Protocol, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from hub_kernel.core import config
from hub_kernel.core.config import Settings
from hub_kernel.data.samples import sample_path
from hub_kernel.exceptions import DataError, RegistryError

logger = logging.getLogger("hub_kernel")

TableInput = str | os.PathLike[str] | bytes | bytearray | memoryview

# a text column becomes a date column when this share of its sampled non-null values parse
_DATE_SHARE = 0.95
_DATE_SAMPLE = 200
_DATE_SCAN = 2000  # leading values looked at to find the sample
# what every sampled value must contain to be tried as a date: 2024-01-31, 1/31/24, 12:30,
# 31 Jan, Jan 31 (so "1,5", "w123x" or "7" are never parsed as dates)
_DATE_LIKE = re.compile(r"\d[-/.: T]\d|\d[-/ ][A-Za-z]{3}|[A-Za-z]{3}[-/ ]\d")
_SNIFF_BYTES = 1 << 20  # read to detect format, encoding and delimiter
_DELIMITERS = (",", ";", "\t", "|")
_FALLBACK_ENCODINGS = ("cp1252", "latin-1")
_MAX_TYPE_RESTARTS = 8  # column type changes re-read before one whole-file parse
_MAX_RECORDED_LINES = 20  # skipped lines listed in the warnings
_URL_TIMEOUT = 30.0  # seconds without progress before a download fails
_ENTRY_POINT_GROUP = "hub.sources"
_TEXT_BYTES = bytes(range(32, 127)) + b"\t\n\r"
_CONTROL_BYTES = bytes(c for c in range(32) if c not in (9, 10, 12, 13))
_SUFFIX_HINTS = {".xls": "legacy Excel .xls is not supported; save it as .xlsx"}


def _settings() -> Settings:
    return config.get_settings()  # not a copy: reload_settings() replaces it


# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass
class SourceInput:
    """One input to read: a file, bytes in memory, or a downloaded URL (kept in a temp file).

    ``label`` is what error messages name (path, URL or the given name); ``name`` is the file name
    whose extension selects the format.
    """

    label: str
    name: str
    path: Path | None = None
    data: bytes | None = None
    media_type: str | None = None

    @property
    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        assert self.path is not None
        return self.path.stat().st_size

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix.lower()

    def open(self) -> IO[bytes]:
        """A binary file object over the input (from the start)."""
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return open(self.path, "rb", buffering=0)

    def head(self, n: int = _SNIFF_BYTES) -> bytes:
        """The first ``n`` bytes."""
        if self.data is not None:
            return bytes(self.data[:n])
        with self.open() as handle:
            return handle.read(n)

    def read_bytes(self) -> bytes:
        """The whole input (its size was checked against ``HUB_MAX_FILE_BYTES``)."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()

    def arrow_file(self) -> pa.NativeFile:
        """A pyarrow random-access file over the input, without copying it."""
        if self.data is not None:
            return pa.BufferReader(self.data)
        return pa.memory_map(str(self.path), "r")

    def error(self, reason: str) -> DataError:
        return DataError(self.label, reason)


# ---------------------------------------------------------------------------------------------
# Progress


class _Progress:
    """A tqdm bar when enabled and tqdm is installed, else a log line every tenth; or nothing."""

    def __init__(self, total: int | None, label: str, enabled: bool) -> None:
        self.total = total
        self.label = label
        self.enabled = enabled
        self.position = 0
        self._logged = 0
        self._bar: Any = None
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                logger.info("reading %s", label)
            else:
                desc = PurePosixPath(label).name or label
                self._bar = tqdm(total=total, desc=desc, unit="B", unit_scale=True, leave=False)

    def set(self, position: int) -> None:
        if not self.enabled:
            return
        position = min(position, self.total) if self.total else position
        if self._bar is not None:
            self._bar.update(position - self.position)
        elif self.total:
            tenth = position * 10 // self.total
            if tenth > self._logged:
                self._logged = tenth
                logger.info("reading %s: %d%%", self.label, tenth * 10)
        self.position = position

    def restart(self) -> None:
        if self._bar is not None:
            self._bar.reset(total=self.total)
        self.position = 0
        self._logged = 0

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# The registry


class Source:
    """One kind of table file. Subclasses set ``name`` and ``extensions`` and implement ``read``.

    ``sniff`` recognises the format from the first bytes of an input whose name has no known
    extension. ``read`` returns a DataFrame; it may put what it found (encoding, delimiter,
    sheet, warnings) in ``frame.attrs["hub_source"]``. It raises ``DataError`` for bad input;
    anything else it raises is turned into one by ``read_table``.
    """

    name: ClassVar[str] = ""
    extensions: ClassVar[tuple[str, ...]] = ()
    media_types: ClassVar[tuple[str, ...]] = ()

    def sniff(self, head: bytes) -> bool:
        """Whether ``head`` (the first bytes of an input) looks like this format."""
        return False

    def read(
        self,
        source: SourceInput,
        *,
        sheet: str | int | None = None,
        progress: bool = False,
        **options: Any,
    ) -> pd.DataFrame:
        """Read ``source`` into a DataFrame."""
        raise NotImplementedError

    def _no_sheet(self, source: SourceInput, sheet: str | int | None) -> None:
        if sheet is not None:
            raise source.error(f"sheet={sheet!r} applies to Excel workbooks, not {self.name}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {', '.join(self.extensions)}>"


class SourceRegistry:
    """The sources hub knows, by name, in the order they are tried when sniffing."""

    def __init__(self) -> None:
        self._sources: dict[str, Source] = {}
        self._entry_points_loaded = False

    def register(self, source: Source | type[Source], name: str | None = None) -> Source:
        """Register ``source`` (an instance or a class) under ``name`` (default its own)."""
        instance = source() if isinstance(source, type) else source
        key = name or instance.name
        if not key:
            raise RegistryError(f"source {instance!r} has no name")
        self._sources[key] = instance
        return instance

    def unregister(self, name: str) -> Source:
        """Remove and return the source registered as ``name``."""
        try:
            return self._sources.pop(name)
        except KeyError:
            raise RegistryError(f"no source named {name!r}") from None

    def register_entry_points(self) -> None:
        """Register sources that installed packages declare in the ``hub.sources`` group."""
        from importlib.metadata import entry_points

        self._entry_points_loaded = True
        for entry in entry_points(group=_ENTRY_POINT_GROUP):
            try:
                self.register(entry.load(), entry.name)
            except Exception:  # a broken plug-in must not stop hub from reading files
                logger.exception("cannot load source %r from %s", entry.name, entry.value)

    def _ensure_entry_points(self) -> None:
        if not self._entry_points_loaded:
            self.register_entry_points()

    def names(self) -> list[str]:
        self._ensure_entry_points()
        return list(self._sources)

    def get(self, name: str) -> Source:
        """The source registered as ``name``; ``RegistryError`` listing the known ones if none."""
        self._ensure_entry_points()
        try:
            return self._sources[name]
        except KeyError:
            known = ", ".join(self._sources) or "none"
            raise RegistryError(f"no source named {name!r}; known sources: {known}") from None

    def for_extension(self, suffix: str) -> Source | None:
        self._ensure_entry_points()
        suffix = suffix.lower()
        for source in reversed(self._sources.values()):  # the latest registration wins
            if suffix in source.extensions:
                return source
        return None

    def for_media_type(self, media_type: str | None) -> Source | None:
        if not media_type:
            return None
        self._ensure_entry_points()
        for source in self._sources.values():
            if media_type in source.media_types:
                return source
        return None

    def sniff(self, head: bytes) -> Source | None:
        self._ensure_entry_points()
        for source in self._sources.values():
            if source.sniff(head):
                return source
        return None

    def extensions(self) -> list[str]:
        self._ensure_entry_points()
        return sorted({ext for source in self._sources.values() for ext in source.extensions})


source_registry = SourceRegistry()


def register_source(source: Source | type[Source], name: str | None = None) -> Source:
    """Register a source with hub (see ``SourceRegistry.register``)."""
    return source_registry.register(source, name)


def get_source(name: str) -> Source:
    """The source registered as ``name``; raises ``RegistryError`` naming the known ones."""
    return source_registry.get(name)


# ---------------------------------------------------------------------------------------------
# Shared helpers


def unique_names(names: list[Any]) -> tuple[list[str], dict[str, str]]:
    """Column names made unique (``a``, ``a.1``, ...), blanks named ``Unnamed: i``.

    Returns the names and ``{new name: original}`` for every name that changed.
    """
    texts = ["" if n is None else str(n) for n in names]
    taken = set(texts)
    out: list[str] = []
    used: set[str] = set()
    renamed: dict[str, str] = {}
    for i, text in enumerate(texts):
        new = text if text.strip() else f"Unnamed: {i}"
        if new in used or (new != text and new in taken):
            base, k = new, 1
            while f"{base}.{k}" in used or f"{base}.{k}" in taken:
                k += 1
            new = f"{base}.{k}"
        used.add(new)
        out.append(new)
        if new != text:
            renamed[new] = text
    return out, renamed


def _check_columns(source: SourceInput, n_columns: int) -> None:
    limit = _settings().max_columns
    if n_columns > limit:
        raise source.error(
            f"has {n_columns} columns, more than the limit of {limit} (setting HUB_MAX_COLUMNS)"
        )


def _warn(info: dict[str, Any], source: SourceInput, message: str) -> None:
    info.setdefault("warnings", []).append(message)
    logger.warning("%s: %s", source.label, message)


# ---------------------------------------------------------------------------------------------
# CSV


@dataclass(frozen=True)
class _Encoding:
    codec: str  # a Python codec name; "utf-8" is passed to pyarrow untouched
    bom: int = 0  # bytes of byte-order mark to skip
    guessed: bool = False  # a fallback, not what the file declares or validates as


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _valid_utf8_prefix(head: bytes, complete: bool) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a sample may end inside a multi-byte character
        return (
            not complete and exc.reason == "unexpected end of data" and exc.start >= len(head) - 3
        )
    return True


def _mostly_ascii_text(data: bytes, share: float) -> bool:
    """No NUL, and at least ``share`` of printable ASCII or whitespace."""
    if not data or 0 in data:
        return False
    return len(data.translate(None, _TEXT_BYTES)) <= (1 - share) * len(data)


def _detect_encoding(source: SourceInput, head: bytes) -> _Encoding:
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return _Encoding(codec, len(bom))
    complete = len(head) >= source.size
    if b"\x00" in head:
        sample = head[: len(head) // 2 * 2]
        # BOM-less UTF-16: mostly-ASCII text has a NUL in every other byte, and only there
        for codec, nuls, chars in (
            ("utf-16-le", sample[1::2], sample[0::2]),
            ("utf-16-be", sample[0::2], sample[1::2]),
        ):
            if nuls.count(0) > 0.9 * len(nuls) and _mostly_ascii_text(chars, 0.7):
                return _Encoding(codec)
        raise source.error("not text: binary data (NUL bytes); cannot be parsed as CSV")
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    if controls > max(8, len(head) // 100):
        raise source.error("not text: binary data (control bytes); cannot be parsed as CSV")
    if _valid_utf8_prefix(head, complete):
        return _Encoding("utf-8")
    for codec in _FALLBACK_ENCODINGS:
        try:
            head.decode(codec)
        except UnicodeDecodeError:
            continue
        return _Encoding(codec, guessed=True)
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def _strip_quoted(line: str) -> str:
    return re.sub(r'"(?:[^"]|"")*"', '""', line)


def _detect_delimiter(lines: list[str], preferred: str | None) -> str:
    """The delimiter splitting the sampled lines most consistently (``,`` for one column)."""
    lines = [_strip_quoted(line) for line in itertools.islice(filter(str.strip, lines), 100)]
    if not lines:
        return preferred or ","
    best: tuple[float, int, int] = (0.0, 0, 0)
    choice = preferred or ","
    order = (preferred, *_DELIMITERS) if preferred else _DELIMITERS
    for rank, delimiter in enumerate(order):
        counts = [line.count(delimiter) for line in lines]
        if counts[0] == 0:
            continue
        consistency = sum(c == counts[0] for c in counts) / len(counts)
        score = (consistency, counts[0] if consistency >= 0.8 else 0, -rank)
        if score > best:
            best, choice = score, delimiter
    return choice


_COMMA_NUMBER = re.compile(r"[+-]?\d+,\d+")
_DOT_NUMBER = re.compile(r"[+-]?\d*\.\d+")


def _detect_decimal(text: str, delimiter: str) -> str:
    """``,`` when a non-comma-delimited sample writes numbers as ``1,5`` and never ``1.5``."""
    if delimiter == ",":
        return "."
    commas = dots = 0
    try:
        rows = csv.reader(io.StringIO(text[: 1 << 16]), delimiter=delimiter)
        for row in itertools.islice(rows, 1, 200):
            for value in row:
                value = value.strip()
                if _COMMA_NUMBER.fullmatch(value):
                    commas += 1
                elif _DOT_NUMBER.fullmatch(value):
                    dots += 1
    except csv.Error:
        return "."
    return "," if commas and not dots else "."


def _has_quoted_newlines(text: str, delimiter: str) -> bool:
    text = text[: 1 << 16]
    if "\n" in text:
        text = text[: text.rfind("\n") + 1]
    try:
        return any(
            "\n" in value or "\r" in value
            for row in csv.reader(io.StringIO(text), delimiter=delimiter)
            for value in row
        )
    except csv.Error:
        return False


class _Transcoder(io.RawIOBase):
    """A readable stream of UTF-8 bytes over a stream in another encoding."""

    def __init__(self, raw: IO[bytes], codec: str) -> None:
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder(codec)(errors="strict")
        self._pending = bytearray()  # appended at the end, consumed from the front: both cheap
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while len(self._pending) < len(view) and not self._eof:
            chunk = self._raw.read(1 << 22)
            self._eof = not chunk
            self._pending += self._decoder.decode(chunk, final=self._eof).encode("utf-8")
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        del self._pending[:n]
        return n


class _ReadInto(Protocol):
    def readinto(self, buffer: Any, /) -> int | None: ...


def _readinto_full(reader: _ReadInto, view: memoryview) -> int:
    """Fill ``view`` from ``reader``; fewer bytes only at the end of the stream."""
    total = 0
    while total < len(view):
        n = reader.readinto(view[total:])
        if not n:
            break
        total += n
    return total


Buffer = mmap.mmap | bytes


def _count(buffer: Buffer, byte: int, start: int, end: int) -> int:
    return int(np.count_nonzero(np.frombuffer(buffer, np.uint8, end - start, start) == byte))


def _record_end(buffer: Buffer, start: int, end: int, quote_aware: bool) -> int:
    """Index just past the last line end in ``buffer[start:end]`` ending a record (0: none)."""
    cut = buffer.rfind(b"\n", start, end)
    if cut < 0:
        return 0
    if quote_aware:  # a newline inside quotes does not end a record
        quotes = _count(buffer, ord('"'), start, cut)
        while quotes % 2:
            previous = buffer.rfind(b"\n", start, cut)
            if previous < 0:
                return 0
            quotes -= _count(buffer, ord('"'), previous, cut)
            cut = previous
    return cut + 1


def _mapped_slices(
    whole: Buffer, base: int, capacity: int, quote_aware: bool
) -> Iterator[tuple[int, memoryview]]:
    """Whole-record slices ``(offset, bytes)`` of ``whole[base:]``, without copying.

    ``whole`` is the input in memory or a memory map of the file; the pages of a map are
    released once their slice is parsed, so memory holds about one slice of the file at a time.
    """
    size = len(whole)
    view = memoryview(whole)
    position, released = base, 0
    while position < size:
        window = capacity
        while True:  # a record longer than the window widens it
            end = position + window
            cut = size if end >= size else _record_end(whole, position, end, quote_aware)
            if cut:
                break
            window *= 2
        yield position - base, view[position:cut]
        if isinstance(whole, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
            upto = cut // mmap.PAGESIZE * mmap.PAGESIZE
            if upto > released:
                whole.madvise(mmap.MADV_DONTNEED, released, upto - released)
                released = upto
        position = cut


def _slices(
    reader: _ReadInto, capacity: int, quote_aware: bool
) -> Iterator[tuple[int, memoryview]]:
    """Whole-record slices ``(offset, bytes)`` of a UTF-8 stream, in one reused buffer.

    A slice is valid until the next one is requested. A record longer than the buffer grows it.
    The buffer is an anonymous memory map: no time spent zeroing it, and pages never filled
    (a small file in a big buffer) cost no memory.
    """
    buffer = mmap.mmap(-1, capacity)
    filled = offset = 0
    eof = False
    while True:
        if not eof and filled < len(buffer):
            n = _readinto_full(reader, memoryview(buffer)[filled:])
            eof = filled + n < len(buffer)
            filled += n
        if filled == 0:
            return
        cut = filled if eof else _record_end(buffer, 0, filled, quote_aware)
        if cut == 0:  # no record ends in the buffer: a bigger one (the old one may be in use)
            grown = mmap.mmap(-1, 2 * len(buffer))
            grown[:filled] = buffer[:filled]
            buffer = grown
            continue
        yield offset, memoryview(buffer)[:cut]
        rest = filled - cut
        buffer.move(0, cut, rest)
        filled, offset = rest, offset + cut


class _TypeConflict(Exception):
    """A later slice holds values the type inferred from the first slice cannot hold."""

    def __init__(self, column: int, found: pa.DataType) -> None:
        super().__init__(column)
        self.column = column
        self.found = found


class _NotUtf8(Exception):
    """The UTF-8 stream holds invalid UTF-8: the encoding guess was wrong."""


class _BadOption(ValueError):
    """An option passed to ``read_table`` has a bad value (a caller's mistake, not the data's)."""


class _UnknownOption(TypeError):
    """An option ``read_table`` passed on is unknown to the source."""


def _large(arrow_type: pa.DataType) -> pa.DataType:
    """``large_string`` for text: what pandas' string columns hold, so no cast at the end."""
    return pa.large_string() if pa.types.is_string(arrow_type) else arrow_type


def _numpy_dtype(arrow_type: pa.DataType) -> np.dtype[Any] | None:
    """The numpy dtype a column is collected into, or None to keep it as Arrow chunks."""
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type):
        return np.dtype(arrow_type.to_pandas_dtype())
    if pa.types.is_timestamp(arrow_type) and arrow_type.tz is None:
        return np.dtype(f"datetime64[{arrow_type.unit}]")
    if pa.types.is_date32(arrow_type) or pa.types.is_date64(arrow_type):
        return np.dtype("datetime64[ms]")
    return None


class _FrameBuilder:
    """Collects parsed slices into a DataFrame, converting each slice as it arrives.

    Numeric and date columns are copied into numpy arrays allocated once with room for the whole
    file (estimated from the first slice; pages never written cost no memory) and grown if the
    estimate was short. Other columns (text) keep their Arrow chunks, handed to pandas at the end
    without copying the text. A slice's Arrow data is freed as soon as it is converted.
    """

    def __init__(self, names: list[str], total_bytes: int) -> None:
        self.names = names
        self.rows = 0
        self._total_bytes = total_bytes
        self._arrays: dict[str, np.ndarray[Any, Any]] = {}
        self._chunks: dict[str, list[pa.Array]] = {}
        self._types: dict[str, pa.DataType] = {}
        self._capacity = 0

    def add(self, table: pa.Table, nbytes: int) -> None:
        n = table.num_rows
        if not self._types:
            self._types = dict(zip(self.names, map(_large, table.schema.types), strict=True))
            self._capacity = int(n * self._total_bytes / max(nbytes, 1) * 1.25) + 1024
            for name, arrow_type in self._types.items():
                dtype = _numpy_dtype(arrow_type)
                if dtype is None:
                    self._chunks[name] = []
                else:
                    self._arrays[name] = np.empty(self._capacity, dtype=dtype)
        if self.rows + n > self._capacity:
            self._grow(max(self.rows + n, self._capacity * 3 // 2))
        for name, column in zip(self.names, table.columns, strict=True):
            if name in self._chunks:
                if column.type != self._types[name]:
                    column = column.cast(self._types[name])
                self._chunks[name].extend(column.chunks)
                continue
            position = self.rows
            for chunk in column.chunks:
                if pa.types.is_date32(chunk.type) or pa.types.is_date64(chunk.type):
                    chunk = chunk.cast(pa.timestamp("ms"))
                values = chunk.to_numpy(zero_copy_only=False)
                target = self._arrays[name]
                if values.dtype != target.dtype:  # ints with a missing value become floats
                    widened = np.empty(self._capacity, dtype=np.result_type(values, target))
                    widened[:position] = target[:position]
                    self._arrays[name] = target = widened
                target[position : position + len(values)] = values
                position += len(values)
        self.rows += n

    def _grow(self, capacity: int) -> None:
        for name, array in self._arrays.items():
            grown = np.empty(capacity, dtype=array.dtype)
            grown[: self.rows] = array[: self.rows]
            self._arrays[name] = grown
        self._capacity = capacity

    def finish(self) -> pd.DataFrame:
        text = [name for name in self.names if name in self._chunks]
        converted = pd.DataFrame()
        if text:  # one conversion for all of them: cheaper than one per column when wide
            table = pa.table(
                {name: pa.chunked_array(self._chunks.pop(name), self._types[name]) for name in text}
            )
            converted = table.to_pandas(date_as_object=False, split_blocks=True)
            del table
        columns: dict[str, Any] = {}
        for name in self.names:
            if name in self._arrays:
                columns[name] = self._arrays.pop(name)[: self.rows]
            elif name in converted:
                columns[name] = converted[name].array
            else:  # a header and no rows
                columns[name] = np.empty(0, dtype=object)
        return pd.DataFrame(columns, copy=False)


class _Prepend(io.RawIOBase):
    """A stream of ``head`` followed by the rest of ``reader``."""

    def __init__(self, head: bytes, reader: _ReadInto) -> None:
        self._head = memoryview(head)
        self._reader = reader

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._head.nbytes:
            n = min(len(view), self._head.nbytes)
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        return self._reader.readinto(view) or 0


def _first_record_end(data: bytes, start: int) -> int:
    """Index just past the record starting at ``start`` (a quoted value may hold newlines)."""
    position, quotes = start, 0
    while True:
        newline = data.find(b"\n", position)
        if newline < 0:
            return len(data)
        quotes += data.count(b'"', position, newline)
        if quotes % 2 == 0:
            return newline + 1
        position = newline + 1


def _read_up_to(reader: _ReadInto, n: int) -> bytes:
    buffer = bytearray(n)
    return bytes(buffer[: _readinto_full(reader, memoryview(buffer))])


def _merge_types(old: pa.DataType, new: pa.DataType) -> pa.DataType:
    """A type holding the values of both, as whole-file inference would have chosen."""
    if old == new or pa.types.is_null(new):
        return old if not pa.types.is_null(old) else pa.large_string()
    if pa.types.is_null(old):
        return new
    numeric = (pa.types.is_integer, pa.types.is_floating)
    if any(f(old) for f in numeric) and any(f(new) for f in numeric):
        return pa.float64()
    temporal = (pa.types.is_timestamp, pa.types.is_date)
    if any(f(old) for f in temporal) and any(f(new) for f in temporal):
        return pa.timestamp("ns")
    return pa.large_string()


ParseFn = Callable[[memoryview, dict[str, pa.DataType]], pa.Table]


class _CsvRead:
    """One pass over a CSV input with a given encoding and fixed column types (``CsvSource``)."""

    def __init__(
        self,
        source: SourceInput,
        encoding: _Encoding,
        *,
        delimiter: str | None,
        decimal: str | None,
        on_bad_lines: str,
        progress: _Progress,
    ) -> None:
        self.source = source
        self.encoding = encoding
        self.delimiter = delimiter
        self.decimal = decimal
        self.on_bad_lines = on_bad_lines
        self.progress = progress
        self.info: dict[str, Any] = {}
        self.names: list[str] = []
        self._bad: list[Any] = []  # pyarrow InvalidRow of the slice being parsed
        self._skipped: list[int] = []  # stream offsets of the first skipped rows
        self._n_skipped = 0

    def _stream(self, stack: ExitStack) -> tuple[_ReadInto, IO[bytes]]:
        """The input as UTF-8 bytes, and the raw file under it (for progress)."""
        raw = stack.enter_context(self.source.open())
        if self.encoding.bom:
            raw.read(self.encoding.bom)
        if self.encoding.codec == "utf-8":
            return cast(_ReadInto, raw), raw  # a FileIO or BytesIO
        transcoder = stack.enter_context(_Transcoder(raw, self.encoding.codec))
        return transcoder, raw

    def _mapped(self) -> Buffer | None:
        """The whole input, when it can be parsed in place: UTF-8 bytes or a mapped file."""
        if self.encoding.codec != "utf-8":
            return None
        if self.source.data is not None:
            return self.source.data
        assert self.source.path is not None
        with open(self.source.path, "rb") as handle:
            try:  # the map is not closed explicitly: it goes with the last slice in use
                return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):  # not mappable: read it instead
                return None

    def _line_numbers(self, offsets: list[int]) -> dict[int, int]:
        """1-based line numbers of the bytes at ``offsets`` of the UTF-8 stream (error path)."""
        wanted = sorted(set(offsets))
        found: dict[int, int] = {}
        lines = position = 0
        with ExitStack() as stack:
            reader, _ = self._stream(stack)
            while wanted:
                chunk = _read_up_to(reader, 1 << 22)
                if not chunk:
                    break
                while wanted and wanted[0] < position + len(chunk):
                    found[wanted[0]] = lines + chunk.count(b"\n", 0, wanted[0] - position) + 1
                    wanted.pop(0)
                lines += chunk.count(b"\n")
                position += len(chunk)
        return found

    def _decode(self, data: bytes, partial: bool = False) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            if partial and exc.reason == "unexpected end of data" and exc.start >= len(data) - 3:
                return data[: exc.start].decode("utf-8")
            raise _NotUtf8(str(exc)) from None

    def read(self, column_types: dict[str, pa.DataType], whole: bool) -> pd.DataFrame:
        """Read the input; ``column_types`` is filled from the first slice when empty."""
        settings = _settings()
        # a small file needs no more than its size (slices grow when a record is longer)
        capacity = self.source.size + (1 << 16)
        capacity = capacity if whole else min(capacity, settings.csv_block_bytes)
        with ExitStack() as stack:
            mapped = self._mapped()
            raw: IO[bytes] | None = None
            if mapped is None:
                reader, raw = self._stream(stack)
                head = _read_up_to(reader, _SNIFF_BYTES)
            else:
                head = bytes(
                    memoryview(mapped)[self.encoding.bom : self.encoding.bom + _SNIFF_BYTES]
                )
            text = self._decode(head, partial=True)
            if self.delimiter is None:
                preferred = {".tsv": "\t", ".tab": "\t", ".psv": "|"}.get(self.source.suffix)
                lines = text.splitlines()
                if len(head) == _SNIFF_BYTES and len(lines) > 1:
                    lines = lines[:-1]  # the last sampled line may be cut short
                self.delimiter = _detect_delimiter(lines, preferred)
            if b"\n" not in head:  # one line so far: refuse a hostile width before buffering it
                _check_columns(self.source, text.count(self.delimiter) + 1)
            quoted_newlines = _has_quoted_newlines(text, self.delimiter)
            if self.decimal is None:
                self.decimal = _detect_decimal(text, self.delimiter)
            capacity = max(capacity, 1 << 16)
            if mapped is None:
                slices = _slices(_Prepend(head, reader), capacity, quoted_newlines)
            else:
                slices = _mapped_slices(mapped, self.encoding.bom, capacity, quoted_newlines)
            first = self._header(slices)
            self.info["encoding"] = self.encoding.codec
            if self.encoding.bom:
                self.info["encoding"] += "-sig" if self.encoding.codec == "utf-8" else ""
                self.info["bom"] = True
            self.info["delimiter"] = self.delimiter
            if self.decimal != ".":
                self.info["decimal"] = self.decimal
            builder = _FrameBuilder(self.names, self.source.size)
            parse = self._parser(quoted_newlines, capacity)
            pieces = _chain_first(first, slices)
            for offset, data in pieces:
                if quoted_newlines:
                    self._check_quotes(offset, data)
                table = self._parse(parse, offset, data, column_types)
                if table is not None and table.num_rows:
                    builder.add(table, len(data))
                del table
                done = raw.tell() if raw else self.encoding.bom + offset + len(data)
                self.progress.set(done)
            frame = builder.finish()
        self._report_skipped()
        if not builder.rows:
            self.info.setdefault("warnings", []).append("no data rows: the file has only a header")
        return frame

    def _check_quotes(self, offset: int, data: memoryview) -> None:
        """Refuse a quoted value never closed (it would swallow the rest of the file)."""
        if np.count_nonzero(np.frombuffer(data, np.uint8) == ord('"')) % 2 == 0:
            return
        position = offset + bytes(data).rfind(b'"')
        line = self._line_numbers([position]).get(position, 0)
        raise self.source.error(
            f"line {line}: a quoted value is never closed (it would take in the rest of the file)"
        )

    def _header(self, slices: Iterator[tuple[int, memoryview]]) -> tuple[int, memoryview] | None:
        """Read the header into ``names``; returns the rest of its slice (None if empty)."""
        for offset, data in slices:
            window = bytes(data[: 1 << 20])
            start = 0
            while True:
                if start >= len(window):
                    if len(window) == len(data):
                        break  # only blank lines in this slice
                    window = bytes(data)
                end = _first_record_end(window, start)
                if end == len(window) and len(window) < len(data):
                    window = bytes(data)
                    continue
                record = window[start:end]
                if not record.strip():
                    start = end
                    continue
                header = self._decode(record).rstrip("\r\n")
                fields = next(csv.reader(io.StringIO(header), delimiter=self.delimiter or ","), [])
                _check_columns(self.source, len(fields))
                self.names, renamed = unique_names(fields)
                if renamed:
                    self.info["renamed_columns"] = renamed
                rest = data[end:]
                return (offset + end, rest) if len(rest) else None
        raise self.source.error("contains no data (only blank lines)")

    def _parser(self, quoted_newlines: bool, capacity: int) -> ParseFn:
        # parse each slice in several blocks, so that all cores work on it
        block = max(1 << 20, min(capacity, 1 << 30) // (2 * (os.cpu_count() or 1)))
        names = self.names

        def handler(row: Any) -> str:
            self._bad.append(row)
            return "skip" if self.on_bad_lines == "skip" else "error"

        def parse(data: memoryview, types: dict[str, pa.DataType]) -> pa.Table:
            return pacsv.read_csv(
                pa.py_buffer(data),
                read_options=pacsv.ReadOptions(
                    column_names=names, block_size=block, use_threads=True
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=self.delimiter,
                    newlines_in_values=quoted_newlines,
                    invalid_row_handler=handler,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types=types, strings_can_be_null=True, decimal_point=self.decimal
                ),
            )

        return parse

    def _parse(
        self, parse: ParseFn, offset: int, data: memoryview, column_types: dict[str, pa.DataType]
    ) -> pa.Table | None:
        self._bad.clear()
        try:
            table = parse(data, column_types)
        except pa.ArrowException as exc:
            message = str(exc)
            if self._bad and self.on_bad_lines != "skip":
                raise self._ragged(offset, data) from None
            if "Empty CSV file" in message:
                return None
            if "invalid UTF8" in message or "invalid UTF-8" in message:
                raise _NotUtf8(message) from None
            match = re.search(r"In CSV column #(\d+): CSV conversion error", message)
            if match and column_types:
                column = int(match.group(1))
                raise _TypeConflict(column, self._infer(parse, data, column)) from None
            raise self.source.error(f"cannot be parsed as CSV: {message}") from None
        if self._bad:
            self._n_skipped += len(self._bad)
            room = max(_MAX_RECORDED_LINES - len(self._skipped), 0)
            text = bytes(data) if room else b""
            for row in self._bad[:room]:
                self._skipped.append(offset + max(text.find(str(row.text).encode()), 0))
        if not column_types:  # the first slice fixes the types of the following ones
            column_types.update(zip(self.names, map(_large, table.schema.types), strict=True))
        return table

    def _infer(self, parse: ParseFn, data: memoryview, column: int) -> pa.DataType:
        """The type this slice alone gives ``column`` (text if it cannot tell)."""
        try:
            return parse(data, {}).schema.types[column]
        except (pa.ArrowException, IndexError):
            return pa.string()

    def _ragged(self, offset: int, data: memoryview) -> DataError:
        text = bytes(data)
        found = sorted(
            (max(text.find(str(row.text).encode()), 0), i) for i, row in enumerate(self._bad)
        )
        position, index = found[0]
        row = self._bad[index]
        line = self._line_numbers([offset + position]).get(offset + position, 0)
        return self.source.error(
            f"line {line} has {row.actual_columns} fields, expected {row.expected_columns} as in "
            "the header (pass on_bad_lines='skip' to read the other lines)"
        )

    def _report_skipped(self) -> None:
        if not self._n_skipped:
            return
        lines = self._line_numbers(self._skipped)
        listed = ", ".join(str(lines[o]) for o in sorted(lines))
        more = self._n_skipped - len(lines)
        self.info.setdefault("warnings", []).append(
            f"skipped {self._n_skipped} line(s) whose number of fields differs from the header: "
            f"line(s) {listed}" + (f" and {more} more" if more > 0 else "")
        )


def _chain_first(
    first: tuple[int, memoryview] | None, rest: Iterator[tuple[int, memoryview]]
) -> Iterator[tuple[int, memoryview]]:
    if first is not None:
        yield first
    yield from rest


class CsvSource(Source):
    """Delimited text: comma, semicolon, tab or pipe; UTF-8/16/32 or cp1252/latin-1.

    Options: ``delimiter=``, ``encoding=``, ``decimal=`` (instead of detecting them; the decimal
    mark is ``,`` when a ``;``-delimited file writes ``1,5`` and never ``1.5``), ``on_bad_lines=``
    ``"error"`` (default: a row with the wrong number of fields raises ``DataError`` naming its
    line) or ``"skip"`` (such rows are left out and listed in the warnings).
    """

    name = "csv"
    extensions = (".csv", ".tsv", ".tab", ".psv", ".txt")
    media_types = ("text/csv", "text/tab-separated-values", "application/csv")

    def sniff(self, head: bytes) -> bool:
        if not head:
            return False
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return True
        return b"\x00" not in head[:4096]

    def read(
        self,
        source: SourceInput,
        *,
        sheet: str | int | None = None,
        progress: bool = False,
        delimiter: str | None = None,
        encoding: str | None = None,
        decimal: str | None = None,
        on_bad_lines: str = "error",
        **options: Any,
    ) -> pd.DataFrame:
        self._no_sheet(source, sheet)
        if options:
            raise _UnknownOption(f"unknown CSV option(s): {', '.join(sorted(options))}")
        if on_bad_lines not in ("error", "skip"):
            raise _BadOption("on_bad_lines must be 'error' or 'skip'")
        if delimiter is not None and len(delimiter) != 1:
            raise _BadOption("delimiter must be one character")
        if decimal is not None and decimal not in (".", ","):
            raise _BadOption("decimal must be '.' or ','")
        if encoding is not None:
            try:
                codec = codecs.lookup(encoding).name
            except LookupError:
                raise _BadOption(f"unknown encoding {encoding!r}") from None
            head = source.head(4)
            bom = (
                len(codecs.BOM_UTF8) if codec == "utf-8" and head.startswith(codecs.BOM_UTF8) else 0
            )
            candidates = [_Encoding(codec, bom)]
        else:
            detected = _detect_encoding(source, source.head())
            candidates = [detected]
            if detected.codec == "utf-8" and not detected.bom:
                candidates += [_Encoding(c, guessed=True) for c in _FALLBACK_ENCODINGS]
        with _Progress(source.size, source.label, progress) as bar:
            for attempt, chosen in enumerate(candidates):
                try:
                    frame, info = self._read(source, chosen, delimiter, decimal, on_bad_lines, bar)
                    break
                except (_NotUtf8, UnicodeDecodeError) as exc:
                    if attempt + 1 == len(candidates):
                        raise source.error(
                            f"not {chosen.codec} text ({exc}); pass encoding= to choose one"
                        ) from None
                    bar.restart()
        if chosen.guessed:
            _warn(
                info, source, f"not valid UTF-8; read as {chosen.codec} (pass encoding= to choose)"
            )
        frame.attrs["hub_source"] = {"format": self.name, **info}
        return frame

    def _read(
        self,
        source: SourceInput,
        encoding: _Encoding,
        delimiter: str | None,
        decimal: str | None,
        on_bad_lines: str,
        bar: _Progress,
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        column_types: dict[str, pa.DataType] = {}
        restarts = 0
        whole = False
        while True:
            attempt = _CsvRead(
                source,
                encoding,
                delimiter=delimiter,
                decimal=decimal,
                on_bad_lines=on_bad_lines,
                progress=bar,
            )
            try:
                return attempt.read(column_types, whole), attempt.info
            except _TypeConflict as conflict:
                restarts += 1
                name = attempt.names[conflict.column]
                if restarts > _MAX_TYPE_RESTARTS:
                    whole, column_types = True, {}  # let pyarrow infer over the whole file
                else:
                    column_types[name] = _large(_merge_types(column_types[name], conflict.found))
                logger.info(
                    "%s: column %r holds %s further down; reading again",
                    source.label,
                    name,
                    conflict.found,
                )
                bar.restart()


# ---------------------------------------------------------------------------------------------
# Excel


class _Workbook:
    """An xlsx opened read-only, after its uncompressed size was checked against the limit."""

    def __init__(self, source: SourceInput) -> None:
        self.source = source
        self._handle = source.open()
        try:
            archive = zipfile.ZipFile(self._handle)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            self._handle.close()
            raise source.error(
                f"not a valid xlsx file: the zip archive is truncated or damaged ({exc})"
            ) from None
        with archive:
            members = archive.infolist()
            names = {m.filename for m in members}
        total = sum(m.file_size for m in members)
        limit = _settings().max_uncompressed_bytes
        if total > limit:
            self._handle.close()
            raise source.error(
                f"uncompressed size of {total:,} bytes exceeds the limit of {limit:,} bytes "
                "(setting HUB_MAX_UNCOMPRESSED_BYTES); not expanded"
            )
        if "xl/workbook.xml" not in names:
            self._handle.close()
            raise source.error("is a zip archive but not an Excel workbook (no xl/workbook.xml)")
        import openpyxl

        self._handle.seek(0)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.book = openpyxl.load_workbook(self._handle, read_only=True, data_only=True)
        except Exception as exc:
            self._handle.close()
            raise source.error(
                f"cannot be read as an Excel workbook: {type(exc).__name__}: {exc}"
            ) from None

    def sheet(self, sheet: str | int | None) -> Any:
        names = list(self.book.sheetnames)
        listed = ", ".join(repr(n) for n in names)
        if sheet is None:
            sheet = 0
        if isinstance(sheet, bool) or not isinstance(sheet, int | str):
            raise _BadOption("sheet must be a sheet name or a 0-based index")
        if isinstance(sheet, int):
            if not 0 <= sheet < len(names):
                raise self.source.error(f"has no sheet {sheet}; sheets (0-based): {listed}")
            sheet = names[sheet]
        if sheet not in names:
            raise self.source.error(f"has no sheet named {sheet!r}; sheets: {listed}")
        worksheet = self.book[sheet]
        if not hasattr(worksheet, "iter_rows"):
            raise self.source.error(f"sheet {sheet!r} is a chart, not a table")
        return worksheet

    def close(self) -> None:
        self.book.close()
        self._handle.close()

    def __enter__(self) -> _Workbook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _trim(row: tuple[Any, ...]) -> tuple[Any, ...]:
    end = len(row)
    while end and (row[end - 1] is None or row[end - 1] == ""):
        end -= 1
    return row[:end]


class ExcelSource(Source):
    """Excel workbooks (.xlsx, .xlsm), read with openpyxl in read-only mode.

    ``sheet=`` is a name or a 0-based index (default the first sheet). The first non-blank row is
    the header; blank rows are skipped; formulas give their cached values.
    """

    name = "excel"
    extensions = (".xlsx", ".xlsm")
    media_types = (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-excel.sheet.macroenabled.12",
    )

    def sniff(self, head: bytes) -> bool:
        return head.startswith(b"PK\x03\x04")

    def read(
        self,
        source: SourceInput,
        *,
        sheet: str | int | None = None,
        progress: bool = False,
        **options: Any,
    ) -> pd.DataFrame:
        if options:
            raise _UnknownOption(f"unknown Excel option(s): {', '.join(sorted(options))}")
        limit = _settings().max_columns
        with _Workbook(source) as book:
            worksheet = book.sheet(sheet)
            worksheet.reset_dimensions()  # declared dimensions may lie: pad nothing
            header: tuple[Any, ...] | None = None
            rows: list[tuple[Any, ...]] = []
            width = 0
            try:
                for values in worksheet.iter_rows(values_only=True):
                    row = _trim(values)
                    if not row:
                        continue
                    if len(row) > width:
                        width = len(row)
                        if width > limit:
                            _check_columns(source, width)
                    if header is None:
                        header = row
                    else:
                        rows.append(row)
            except DataError:
                raise
            except Exception as exc:  # damaged XML or zip member
                raise source.error(
                    f"sheet {worksheet.title!r} cannot be read: {type(exc).__name__}: {exc}"
                ) from None
            title = worksheet.title
        if header is None:
            raise source.error(f"sheet {title!r} is empty")
        names, renamed = unique_names([*header, *([None] * (width - len(header)))])
        padded = [row + (None,) * (width - len(row)) for row in rows]
        frame = (
            pd.DataFrame(padded, columns=names)
            if padded
            else pd.DataFrame({name: pd.Series([], dtype=object) for name in names})
        )
        info: dict[str, Any] = {"format": self.name, "sheet": title}
        if renamed:
            info["renamed_columns"] = renamed
        if not rows:
            info["warnings"] = [f"no data rows: sheet {title!r} has only a header"]
        frame.attrs["hub_source"] = info
        return frame


# ---------------------------------------------------------------------------------------------
# JSON and JSON Lines


def _json_depth(data: bytes, limit: int) -> int:
    """How deep arrays and objects nest in ``data`` (brackets in strings ignored).

    Exact up to ``limit``; it stops counting once past it. Vectorised, so the check is cheap next
    to parsing, and it runs before the parser can recurse.
    """
    if data.count(b"[") + data.count(b"{") <= limit:
        return 0
    cleaned = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    depth = in_string = deepest = 0
    step = 1 << 23
    for start in range(0, len(cleaned), step):
        chunk = np.frombuffer(
            cleaned, np.uint8, count=min(step, len(cleaned) - start), offset=start
        )
        quotes = np.cumsum(chunk == ord('"'), dtype=np.int64) + in_string
        opens = (chunk == ord("[")) | (chunk == ord("{"))
        closes = (chunk == ord("]")) | (chunk == ord("}"))
        delta = opens.astype(np.int8) - closes.astype(np.int8)
        delta[(quotes & 1) == 1] = 0
        levels = np.cumsum(delta, dtype=np.int64) + depth
        deepest = max(deepest, int(levels.max()))
        depth, in_string = int(levels[-1]), int(quotes[-1]) & 1
        if deepest > limit:
            break
    return deepest


def _check_depth(source: SourceInput, data: bytes, where: str = "") -> None:
    limit = _settings().max_json_depth
    depth = _json_depth(data, limit)
    if depth > limit:
        raise source.error(
            f"{where}JSON nests at least {depth} levels deep, more than the limit of {limit} "
            "(setting HUB_MAX_JSON_DEPTH); not parsed"
        )


class _Constants:
    """Counts NaN/Infinity literals met by ``json.loads`` and turns them into floats."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, literal: str) -> float:
        self.count += 1
        return float(literal)

    def report(self, info: dict[str, Any], source: SourceInput) -> None:
        if self.count:
            info["nonstandard_numbers"] = self.count
            _warn(
                info,
                source,
                f"{self.count} NaN/Infinity value(s), not standard JSON, read as floats "
                "(NaN as missing)",
            )


def _records_frame(source: SourceInput, records: list[dict[str, Any]]) -> pd.DataFrame:
    _check_columns(source, max((len(r) for r in records[:100]), default=0))
    frame = pd.json_normalize(records, sep=".")
    _check_columns(source, frame.shape[1])
    return frame


def _type_name(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


class JsonSource(Source):
    """A JSON array of records, or an object holding one array of records.

    Nested objects are flattened into dotted column names (``address.city``); lists stay as
    values. ``NaN``/``Infinity`` literals are read as floats. Nesting deeper than
    ``HUB_MAX_JSON_DEPTH`` is refused before parsing.
    """

    name = "json"
    extensions = (".json",)
    media_types = ("application/json", "text/json")

    def sniff(self, head: bytes) -> bool:
        return head.lstrip(codecs.BOM_UTF8 + b" \t\r\n")[:1] in (b"[", b"{")

    def read(
        self,
        source: SourceInput,
        *,
        sheet: str | int | None = None,
        progress: bool = False,
        **options: Any,
    ) -> pd.DataFrame:
        self._no_sheet(source, sheet)
        if options:
            raise _UnknownOption(f"unknown JSON option(s): {', '.join(sorted(options))}")
        data = source.read_bytes()
        _check_depth(source, data)
        constants = _Constants()
        try:
            value = json.loads(data, parse_constant=constants)
        except json.JSONDecodeError as exc:
            raise source.error(
                f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            ) from None
        except UnicodeDecodeError as exc:
            raise source.error(f"not UTF-8/16/32 text: {exc}") from None
        except RecursionError:
            raise source.error("JSON nested too deeply to be parsed") from None
        info: dict[str, Any] = {"format": self.name}
        if isinstance(value, dict):
            arrays = [key for key, item in value.items() if isinstance(item, list)]
            if len(arrays) != 1:
                found = f"arrays {', '.join(map(repr, arrays))}" if arrays else "no array"
                raise source.error(
                    f"expected an array of records, or an object holding one; this object holds "
                    f"{found}"
                )
            info["record_path"] = arrays[0]
            value = value[arrays[0]]
        if not isinstance(value, list):
            raise source.error(f"expected an array of records, found {_type_name(value)}")
        if not value:
            raise source.error("holds no records (an empty array)")
        for index, record in enumerate(value):
            if not isinstance(record, dict):
                raise source.error(
                    f"record {index} is {_type_name(record)}, not an object (a record)"
                )
        frame = _records_frame(source, value)
        constants.report(info, source)
        frame.attrs["hub_source"] = info
        return frame


class JsonLinesSource(Source):
    """JSON Lines: one JSON object per line (blank lines skipped); a bad line names its number."""

    name = "jsonl"
    extensions = (".jsonl", ".ndjson", ".jsonlines")
    media_types = (
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/x-jsonlines",
        "application/jsonlines",
    )

    def sniff(self, head: bytes) -> bool:
        lines = [line for line in head.lstrip(codecs.BOM_UTF8).splitlines() if line.strip()]
        if len(lines) < 2 or not lines[1].lstrip().startswith(b"{"):
            return False
        try:
            return isinstance(json.loads(lines[0]), dict)
        except ValueError:
            return False

    def read(
        self,
        source: SourceInput,
        *,
        sheet: str | int | None = None,
        progress: bool = False,
        **options: Any,
    ) -> pd.DataFrame:
        self._no_sheet(source, sheet)
        if options:
            raise _UnknownOption(f"unknown JSON Lines option(s): {', '.join(sorted(options))}")
        limit = _settings().max_json_depth
        constants = _Constants()
        records: list[dict[str, Any]] = []
        position = 0
        with source.open() as raw, _Progress(source.size, source.label, progress) as bar:
            handle = io.BufferedReader(raw, 1 << 20) if isinstance(raw, io.RawIOBase) else raw
            for number, line in enumerate(handle, start=1):
                position += len(line)
                if not line.strip():
                    continue
                if line.count(b"[") + line.count(b"{") > limit:
                    _check_depth(source, line, f"line {number}: ")
                try:
                    record = json.loads(line, parse_constant=constants)
                except json.JSONDecodeError as exc:
                    raise source.error(
                        f"line {number}: invalid JSON at column {exc.colno}: {exc.msg}"
                    ) from None
                except UnicodeDecodeError:
                    raise source.error(f"line {number}: not UTF-8 text") from None
                except RecursionError:
                    raise source.error(f"line {number}: JSON nested too deeply") from None
                if not isinstance(record, dict):
                    raise source.error(
                        f"line {number}: expected a JSON object (a record), found "
                        f"{_type_name(record)}"
                    )
                records.append(record)
                if number % 10_000 == 0:
                    bar.set(position)
        if not records:
            raise source.error("holds no records (only blank lines)")
        frame = _records_frame(source, records)
        info: dict[str, Any] = {"format": self.name}
        constants.report(info, source)
        frame.attrs["hub_source"] = info
        return frame


# ---------------------------------------------------------------------------------------------
# Parquet


class ParquetSource(Source):
    """Apache Parquet files; ``columns=`` reads only those columns."""

    name = "parquet"
    extensions = (".parquet", ".pq")
    media_types = ("application/vnd.apache.parquet", "application/x-parquet")

    def sniff(self, head: bytes) -> bool:
        return head.startswith(b"PAR1")

    def read(
        self,
        source: SourceInput,
        *,
        sheet: str | int | None = None,
        progress: bool = False,
        columns: list[str] | None = None,
        **options: Any,
    ) -> pd.DataFrame:
        self._no_sheet(source, sheet)
        if options:
            raise _UnknownOption(f"unknown Parquet option(s): {', '.join(sorted(options))}")
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(source.arrow_file())
            _check_columns(source, len(columns) if columns else len(parquet.schema_arrow))
            groups = parquet.metadata.num_row_groups
            if progress and groups > 1:
                with _Progress(groups, source.label, True) as bar:
                    tables = []
                    for index in range(groups):
                        tables.append(parquet.read_row_group(index, columns=columns))
                        bar.set(index + 1)
                table = pa.concat_tables(tables)
            else:
                table = parquet.read(columns=columns)
            frame = table.to_pandas()
        except DataError:
            raise
        except (pa.ArrowException, OSError, ValueError, KeyError) as exc:
            raise source.error(f"cannot be parsed as PARQUET: {exc}") from None
        frame.attrs["hub_source"] = {"format": self.name}
        return frame


for _source in (ParquetSource, ExcelSource, JsonLinesSource, JsonSource, CsvSource):
    register_source(_source)  # the order in which sniffing tries them: CSV, the loosest, last
source_registry.register_entry_points()  # as papermill does for its engines: once, at import


# ---------------------------------------------------------------------------------------------
# Resolving inputs


def _is_url(value: str) -> bool:
    return value[:8].lower().startswith(("http://", "https://"))


def _opener() -> urllib.request.OpenerDirector:
    """http(s) only: no file://, ftp:// or data: handlers (redirects to them fail)."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def _download(
    url: str, stack: ExitStack, *, name: str | None, progress: bool, timeout: float
) -> SourceInput:
    """Download ``url`` into a temporary file, enforcing ``HUB_MAX_FILE_BYTES`` as it comes."""
    shown = public_url(url)
    limit = _settings().max_file_bytes
    too_big = f"is larger than the limit of {limit:,} bytes (setting HUB_MAX_FILE_BYTES)"
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hub-download-")))
    target = folder / "download"
    request = urllib.request.Request(  # noqa: S310 - the scheme is http(s), checked by the caller
        url, headers={"User-Agent": "hub", "Accept-Encoding": "identity"}
    )
    try:
        with _opener().open(request, timeout=timeout) as response, open(target, "wb") as out:
            declared = response.headers.get("Content-Length", "")
            total = int(declared) if declared.strip().isdigit() else None
            if total is not None and total > limit:
                raise DataError(shown, too_big)
            media_type = (response.headers.get("Content-Type") or "").split(";")[0]
            final_url = response.geturl()
            received = 0
            with _Progress(total, shown, progress) as bar:
                while chunk := response.read(1 << 20):
                    received += len(chunk)
                    if received > limit:
                        raise DataError(shown, f"{too_big}; download stopped")
                    out.write(chunk)
                    bar.set(received)
    except DataError:
        raise
    except urllib.error.HTTPError as exc:
        raise DataError(shown, f"cannot be downloaded: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DataError(shown, f"cannot be downloaded: {exc.reason}") from None
    except (OSError, HTTPException, ValueError) as exc:
        raise DataError(shown, f"cannot be downloaded: {type(exc).__name__}: {exc}") from None
    path_name = PurePosixPath(urllib.parse.unquote(urllib.parse.urlparse(final_url).path)).name
    return SourceInput(
        label=shown,
        name=name or path_name,
        path=target,
        media_type=media_type.strip().lower() or None,
    )


def public_url(url: str) -> str:
    """``url`` without credentials or query string (which may carry tokens): safe to show."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


@contextmanager
def downloaded(url: str, *, progress: bool = False,
               timeout: float = _URL_TIMEOUT) -> Iterator[tuple[Path, str]]:
    """Download ``url`` to a temporary file for the ``with`` block; yields (path, file name)."""
    with ExitStack() as stack:
        source = _download(url, stack, name=None, progress=progress, timeout=timeout)
        assert source.path is not None
        yield source.path, source.name


def _resolve(
    value: TableInput,
    stack: ExitStack,
    *,
    name: str | None,
    progress: bool = False,
    timeout: float = _URL_TIMEOUT,
) -> SourceInput:
    limit = _settings().max_file_bytes
    if isinstance(value, bytes | bytearray | memoryview):
        data = value if isinstance(value, bytes) else bytes(value)
        label = name or "<bytes>"
        if len(data) > limit:
            raise DataError(
                label,
                f"is {len(data):,} bytes, more than the limit of {limit:,} bytes "
                "(setting HUB_MAX_FILE_BYTES)",
            )
        return SourceInput(label=label, name=name or "", data=data)
    if isinstance(value, str) and _is_url(value):
        return _download(value, stack, name=name, progress=progress, timeout=timeout)
    if isinstance(value, str) and re.match(r"^[A-Za-z][A-Za-z0-9+.-]+://", value):
        raise DataError(value, "unsupported URL scheme: only http:// and https:// URLs are read")
    if not isinstance(value, str | os.PathLike):
        raise TypeError(f"expected a path, bytes or an http(s) URL, not {type(value).__name__}")
    path = Path(value)
    if not path.exists():
        raise DataError(path, "file not found")
    if path.is_dir():
        raise DataError(path, "is a folder, not a file")
    size = path.stat().st_size
    if size > limit:
        raise DataError(
            path,
            f"is {size:,} bytes, more than the limit of {limit:,} bytes "
            "(setting HUB_MAX_FILE_BYTES)",
        )
    return SourceInput(label=str(path), name=name or path.name, path=path)


def _choose(source: SourceInput, format: str | None) -> Source:
    if format is not None:
        return get_source(format)
    suffix = source.suffix
    found = source_registry.for_extension(suffix) if suffix else None
    found = found or source_registry.for_media_type(source.media_type)
    if found is not None:
        return found
    supported = ", ".join(source_registry.extensions())
    if suffix and source.path is not None and source.media_type is None:
        hint = _SUFFIX_HINTS.get(suffix, f"supported: {supported}")
        raise source.error(f"unsupported file type {suffix!r}; {hint}")
    sniffed = source_registry.sniff(source.head(1 << 16))
    if sniffed is not None:
        return sniffed
    what = f"file type {suffix!r}" if suffix else "file type (no known extension)"
    raise source.error(
        f"unsupported {what}, and the content is not recognised; supported: {supported}"
    )


def _finish(frame: pd.DataFrame, source: SourceInput, reader: Source) -> pd.DataFrame:
    info: dict[str, Any] = dict(frame.attrs.get("hub_source") or {})
    if frame.shape[1] == 0:
        raise source.error("has no columns")
    _check_columns(source, frame.shape[1])
    if not isinstance(frame.columns, pd.MultiIndex):
        names, renamed = unique_names(list(frame.columns))
        if names != list(frame.columns):
            frame.columns = pd.Index(names, dtype=object)
        if renamed:
            info.setdefault("renamed_columns", {}).update(renamed)
            logger.info("%s: renamed columns %s", source.label, renamed)
    frame.attrs = {}
    frame = coerce_dates(frame)
    frame.attrs["hub_source"] = {
        "format": reader.name,
        "source": source.label,
        "encoding": None,
        "delimiter": None,
        "sheet": None,
        **info,
        "rows": len(frame),
        "columns": frame.shape[1],
        "warnings": list(info.get("warnings", [])),
    }
    return frame


# ---------------------------------------------------------------------------------------------
# Public functions


def read_table(
    path_or_bytes_or_url: TableInput,
    *,
    name: str | None = None,
    sheet: str | int | None = None,
    progress: bool = False,
    format: str | None = None,
    timeout: float = _URL_TIMEOUT,
    **options: Any,
) -> pd.DataFrame:
    """Read a table from a path, bytes or an http(s) URL into a DataFrame.

    ``name`` is the file name of bytes (it selects the format and names the input in errors);
    ``format`` names a registered source instead of detecting one; ``sheet`` picks an Excel
    sheet; ``progress`` shows a progress bar (tqdm, else log lines) for large reads and
    downloads; ``timeout`` bounds each network wait; other ``options`` go to the source (e.g.
    ``delimiter``, ``encoding``, ``on_bad_lines`` for CSV). Text columns holding dates become
    datetime columns; ``frame.attrs["hub_source"]`` records what was read.

    Raises ``DataError`` naming the input and the problem when it cannot be read.
    """
    with ExitStack() as stack:
        source = _resolve(
            path_or_bytes_or_url, stack, name=name, progress=progress, timeout=timeout
        )
        if source.size == 0:
            raise source.error("file is empty")
        reader = _choose(source, format)
        try:
            frame = reader.read(source, sheet=sheet, progress=progress, **options)
        except (DataError, _UnknownOption, _BadOption):
            raise
        except RecursionError:
            raise source.error(f"nested too deeply to be parsed as {reader.name}") from None
        except MemoryError:
            raise source.error("too large to load into memory") from None
        except Exception as exc:  # readers raise many types for malformed input
            raise source.error(
                f"cannot be parsed as {reader.name.upper()}: {type(exc).__name__}: {exc}"
            ) from exc
        return _finish(frame, source, reader)


def list_sheets(
    path_or_bytes_or_url: TableInput, *, name: str | None = None, timeout: float = _URL_TIMEOUT
) -> list[str]:
    """The sheet names of an Excel workbook, in order (``DataError`` if it is not one)."""
    with ExitStack() as stack:
        source = _resolve(path_or_bytes_or_url, stack, name=name, timeout=timeout)
        if source.size == 0:
            raise source.error("file is empty")
        with _Workbook(source) as book:
            return list(book.book.sheetnames)


def coerce_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """Convert text columns whose values are dates into datetime columns (in a shallow copy).

    A column is converted when its first (up to 200) non-missing values all look like dates
    (digits with date or time separators, or a month name) and at least 95% of them parse.
    """
    out = frame.copy(deep=False)
    attrs, out.attrs = out.attrs, {}  # pandas copies attrs on every operation: not in the loop
    textual = [
        i
        for i, dtype in enumerate(out.dtypes)
        if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)
    ]
    if textual:
        rows = min(_DATE_SCAN, max(20, 200_000 // len(textual)))
        head = out.iloc[:rows, textual].to_numpy(dtype=object)
        for j, position in enumerate(textual):
            values = [v for v in head[:, j] if not _missing(v)]
            if not values:
                column = out.iloc[:, position]
                values = _leading_values(column).tolist()
            sample = values[:_DATE_SAMPLE]
            if not sample or not all(isinstance(v, str) and _DATE_LIKE.search(v) for v in sample):
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                parsed = pd.to_datetime(pd.Series(sample, dtype=object), errors="coerce")
                if parsed.notna().mean() >= _DATE_SHARE:
                    converted = pd.to_datetime(out.iloc[:, position], errors="coerce")
                    out.isetitem(position, converted)
    out.attrs = attrs
    return out


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _leading_values(column: pd.Series) -> pd.Series:
    """Non-missing values from the start of ``column``, without copying the whole column."""
    head = column.iloc[:_DATE_SCAN].dropna()
    if head.empty:
        present = column.notna().to_numpy()
        if not present.any():
            return head
        start = int(present.argmax())
        head = column.iloc[start : start + _DATE_SCAN].dropna()
    return head


def load_dataset(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """The dataset to show: ``path``, else ``HUB_DATASET``, else the bundled sample."""
    chosen = path or _settings().dataset or sample_path()
    logger.info("loading dataset %s", chosen)
    return read_table(chosen)
