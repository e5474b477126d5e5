"""The JSON and JSON Lines sources: arrays of records, flattened into dotted column names.

JSON ``NaN``, ``Infinity`` and ``-Infinity`` (not standard JSON, but what Python and pandas
write) are accepted as the floats nan/inf, and counted in the warnings. Nesting deeper than
``HUB_MAX_JSON_DEPTH`` is refused before parsing.
"""

from __future__ import annotations

import codecs
import io
import json
from typing import Any

import numpy as np
import pandas as pd

from hub_kernel.data.io.base import (
    Source,
    SourceInput,
    add_warning,
    check_columns,
    current_settings,
)
from hub_kernel.data.io.budget import check_memory, count, frame_bytes, json_parse_bytes
from hub_kernel.data.io.progress import Progress
from hub_kernel.exceptions import UnknownOptionError


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
    limit = current_settings().max_json_depth
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
            add_warning(
                info,
                source,
                f"{self.count} NaN/Infinity value(s), not standard JSON, read as floats "
                "(NaN as missing)",
            )


def _flat_keys(record: dict[str, Any], keys: set[str], prefix: str = "") -> None:
    """Add the column names ``json_normalize`` makes of ``record`` (``a.b`` for nesting)."""
    if not prefix and not any(type(value) is dict for value in record.values()):
        keys.update(record)  # a flat record: its keys are its columns
        return
    for key, value in record.items():
        if isinstance(value, dict) and value:
            _flat_keys(value, keys, f"{prefix}{key}.")
        else:
            keys.add(f"{prefix}{key}")


def _check_records(
    source: SourceInput, rows: int, keys: set[str], parsed: int, where: str = ""
) -> None:
    """Refuse records whose columns (the union of their keys) exceed a limit or the budget."""
    check_columns(source, len(keys))
    check_memory(
        source,
        parsed + frame_bytes(rows, len(keys)),
        f"{where}{count(rows, 'record')} × {count(len(keys), 'distinct key')}",
    )


def _records_frame(
    source: SourceInput, records: list[dict[str, Any]], parsed: int,
    keys: set[str] | None = None,
) -> pd.DataFrame:
    """The frame of ``records`` (``parsed``: bytes their parsing took; ``keys``: their union
    of flattened keys, if known), once their columns passed the limits and the budget."""
    if keys is None:
        keys = set()
        for record in records:
            _flat_keys(record, keys)
    _check_records(source, len(records), keys, parsed)
    frame = pd.json_normalize(records, sep=".")
    check_columns(source, frame.shape[1])
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
        self.reject_sheet(source, sheet)
        if options:
            raise UnknownOptionError(f"unknown JSON option(s): {', '.join(sorted(options))}")
        data = source.read_bytes()
        _check_depth(source, data)
        parsed = json_parse_bytes(data)
        check_memory(
            source, parsed, f"the Python objects parsing {len(data):,} bytes of JSON makes"
        )
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
        frame = _records_frame(source, value, parsed)
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
        self.reject_sheet(source, sheet)
        if options:
            raise UnknownOptionError(f"unknown JSON Lines option(s): {', '.join(sorted(options))}")
        limit = current_settings().max_json_depth
        constants = _Constants()
        records: list[dict[str, Any]] = []
        keys: set[str] = set()
        position = parsed = 0
        with source.open() as raw, Progress(source.size, source.label, progress) as bar:
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
                _flat_keys(record, keys)
                parsed += json_parse_bytes(line)
                if number % 1_000 == 0:  # refused as the records come, not once all are in
                    _check_records(source, len(records), keys, parsed, f"by line {number:,}: ")
                if number % 10_000 == 0:
                    bar.set(position)
        if not records:
            raise source.error("holds no records (only blank lines)")
        frame = _records_frame(source, records, parsed, keys)
        info: dict[str, Any] = {"format": self.name}
        constants.report(info, source)
        frame.attrs["hub_source"] = info
        return frame


# ---------------------------------------------------------------------------------------------
# Parquet
