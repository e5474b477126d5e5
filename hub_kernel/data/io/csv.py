"""The CSV source: delimited text read in streamed slices by pyarrow.

Large CSV files are streamed: slices of ``HUB_CSV_BLOCK_BYTES`` (ending on a line end) are
parsed by pyarrow's multithreaded reader into a reused buffer, and numeric and date columns are
written into preallocated numpy arrays as they come, so peak memory stays near the size of the
resulting frame (see ``benchmarks/ingest.py``). A column whose type changes further down the
file (ints, then text) is re-inferred and the read restarted, as pandas' whole-file inference
would type it.

- A header-only CSV is a frame with those columns and no rows (with a warning in the attrs).
- Ragged rows (more or fewer fields than the header) raise a ``DataError`` naming the line;
  ``on_bad_lines="skip"`` loads the rest and records the skipped lines as warnings.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import mmap
import os
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import IO, Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from hub_kernel.data.io.base import (
    SNIFF_BYTES,
    Source,
    SourceInput,
    add_warning,
    check_columns,
    current_settings,
    unique_names,
)
from hub_kernel.data.io.budget import check_memory, count, frame_bytes
from hub_kernel.data.io.csv_detect import (
    FALLBACK_ENCODINGS,
    Encoding,
    detect_decimal,
    detect_delimiter,
    detect_encoding,
    has_quoted_newlines,
)
from hub_kernel.data.io.csv_frame import FrameBuilder, large_type, merge_types
from hub_kernel.data.io.csv_stream import (
    Buffer,
    Prepend,
    ReadInto,
    Transcoder,
    buffered_slices,
    first_record_end,
    mapped_slices,
    read_up_to,
)
from hub_kernel.data.io.progress import Progress
from hub_kernel.exceptions import DataError, OptionValueError, UnknownOptionError

logger = logging.getLogger("hub_kernel")

_MAX_TYPE_RESTARTS = 8  # column type changes re-read before one whole-file parse
_MAX_RECORDED_LINES = 20  # skipped lines listed in the warnings


class _TypeConflict(Exception):
    """A later slice holds values the type inferred from the first slice cannot hold."""

    def __init__(self, column: int, found: pa.DataType) -> None:
        super().__init__(column)
        self.column = column
        self.found = found


class _NotUtf8(Exception):
    """The UTF-8 stream holds invalid UTF-8: the encoding guess was wrong."""



ParseFn = Callable[[memoryview, dict[str, pa.DataType]], pa.Table]


class _CsvRead:
    """One pass over a CSV input with a given encoding and fixed column types (``CsvSource``)."""

    def __init__(
        self,
        source: SourceInput,
        encoding: Encoding,
        *,
        delimiter: str | None,
        decimal: str | None,
        on_bad_lines: str,
        progress: Progress,
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

    def _stream(self, stack: ExitStack) -> tuple[ReadInto, IO[bytes]]:
        """The input as UTF-8 bytes, and the raw file under it (for progress)."""
        raw = stack.enter_context(self.source.open())
        if self.encoding.bom:
            raw.read(self.encoding.bom)
        if self.encoding.codec == "utf-8":
            return cast(ReadInto, raw), raw  # a FileIO or BytesIO
        transcoder = stack.enter_context(Transcoder(raw, self.encoding.codec))
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
                chunk = read_up_to(reader, 1 << 22)
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
        settings = current_settings()
        # a small file needs no more than its size (slices grow when a record is longer)
        capacity = self.source.size + (1 << 16)
        capacity = capacity if whole else min(capacity, settings.csv_block_bytes)
        with ExitStack() as stack:
            mapped = self._mapped()
            raw: IO[bytes] | None = None
            if mapped is None:
                reader, raw = self._stream(stack)
                head = read_up_to(reader, SNIFF_BYTES)
            else:
                head = bytes(
                    memoryview(mapped)[self.encoding.bom : self.encoding.bom + SNIFF_BYTES]
                )
            text = self._decode(head, partial=True)
            if self.delimiter is None:
                preferred = {".tsv": "\t", ".tab": "\t", ".psv": "|"}.get(self.source.suffix)
                lines = text.splitlines()
                if len(head) == SNIFF_BYTES and len(lines) > 1:
                    lines = lines[:-1]  # the last sampled line may be cut short
                self.delimiter = detect_delimiter(lines, preferred)
            if b"\n" not in head:  # one line so far: refuse a hostile width before buffering it
                check_columns(self.source, text.count(self.delimiter) + 1)
            quoted_newlines = has_quoted_newlines(text, self.delimiter)
            if self.decimal is None:
                self.decimal = detect_decimal(text, self.delimiter)
            capacity = max(capacity, 1 << 16)
            if mapped is None:
                slices = buffered_slices(Prepend(head, reader), capacity, quoted_newlines)
            else:
                slices = mapped_slices(mapped, self.encoding.bom, capacity, quoted_newlines)
            first = self._header(slices)
            self._check_budget(head)
            self.info["encoding"] = self.encoding.codec
            if self.encoding.bom:
                self.info["encoding"] += "-sig" if self.encoding.codec == "utf-8" else ""
                self.info["bom"] = True
            self.info["delimiter"] = self.delimiter
            if self.decimal != ".":
                self.info["decimal"] = self.decimal
            builder = FrameBuilder(self.names, self.source.size)
            parse = self._parser(quoted_newlines, capacity)
            pieces = _chain_first(first, slices)
            for offset, data in pieces:
                if quoted_newlines:
                    self._check_quotes(offset, data)
                table = self._parse(parse, offset, data, column_types)
                if table is not None and table.num_rows:
                    builder.add(table, len(data))
                del table
                self._check_projected(builder.rows, offset + len(data))
                done = raw.tell() if raw else self.encoding.bom + offset + len(data)
                self.progress.set(done)
            frame = builder.finish()
        self._report_skipped()
        if not builder.rows:
            self.info.setdefault("warnings", []).append("no data rows: the file has only a header")
        return frame

    def _check_budget(self, head: bytes) -> None:
        """Refuse a file whose header and line length say it would not fit the memory budget.

        The rows are estimated from the lines after the header in the first ``head`` bytes; a
        cell costs at most its value's bytes (counted once: the file's size) beyond its slot.
        """
        size, columns = self.source.size, len(self.names)
        body = head[head.find(b"\n") + 1 :] if b"\n" in head else b""
        lines = body.count(b"\n") + (1 if body and not body.endswith(b"\n") else 0)
        sampled_all = len(head) < SNIFF_BYTES
        rows = lines if sampled_all else -(-size * max(lines, 1) // max(len(body), 1))
        check_memory(
            self.source,
            frame_bytes(rows, columns) + size,
            f"{columns:,} columns × about {count(rows, 'row')}",
        )

    def _check_projected(self, rows: int, done: int) -> None:
        """Refuse once the rows read so far, projected to the whole file, exceed the budget
        (the first lines may be longer than the rest)."""
        if not rows or done <= 0:
            return
        size, columns = self.source.size, len(self.names)
        projected = rows * size // done
        check_memory(
            self.source,
            frame_bytes(projected, columns) + size,
            f"{columns:,} columns × about {count(projected, 'row')}, projected from the "
            f"{count(rows, 'row')} read so far",
        )

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
                end = first_record_end(window, start)
                if end == len(window) and len(window) < len(data):
                    window = bytes(data)
                    continue
                record = window[start:end]
                if not record.strip():
                    start = end
                    continue
                header = self._decode(record).rstrip("\r\n")
                fields = next(csv.reader(io.StringIO(header), delimiter=self.delimiter or ","), [])
                check_columns(self.source, len(fields))
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
            column_types.update(zip(self.names, map(large_type, table.schema.types), strict=True))
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
        self.reject_sheet(source, sheet)
        if options:
            raise UnknownOptionError(f"unknown CSV option(s): {', '.join(sorted(options))}")
        if on_bad_lines not in ("error", "skip"):
            raise OptionValueError("on_bad_lines must be 'error' or 'skip'")
        if delimiter is not None and len(delimiter) != 1:
            raise OptionValueError("delimiter must be one character")
        if decimal is not None and decimal not in (".", ","):
            raise OptionValueError("decimal must be '.' or ','")
        if encoding is not None:
            try:
                codec = codecs.lookup(encoding).name
            except LookupError:
                raise OptionValueError(f"unknown encoding {encoding!r}") from None
            head = source.head(4)
            bom = (
                len(codecs.BOM_UTF8) if codec == "utf-8" and head.startswith(codecs.BOM_UTF8) else 0
            )
            candidates = [Encoding(codec, bom)]
        else:
            detected = detect_encoding(source, source.head())
            candidates = [detected]
            if detected.codec == "utf-8" and not detected.bom:
                candidates += [Encoding(c, guessed=True) for c in FALLBACK_ENCODINGS]
        with Progress(source.size, source.label, progress) as bar:
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
            add_warning(
                info, source, f"not valid UTF-8; read as {chosen.codec} (pass encoding= to choose)"
            )
        frame.attrs["hub_source"] = {"format": self.name, **info}
        return frame

    def _read(
        self,
        source: SourceInput,
        encoding: Encoding,
        delimiter: str | None,
        decimal: str | None,
        on_bad_lines: str,
        bar: Progress,
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
                    column_types[name] = large_type(merge_types(column_types[name], conflict.found))
                logger.info(
                    "%s: column %r holds %s further down; reading again",
                    source.label,
                    name,
                    conflict.found,
                )
                bar.restart()


# ---------------------------------------------------------------------------------------------
# Excel
