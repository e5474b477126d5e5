"""What a stream has seen: sequence numbers and their gaps, counters, the first-seen schema, and
the quality figures (``StreamQuality``) computed from them."""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

Row = dict[str, Any]
_MS_EPOCH = 1e11  # numeric event times above this are milliseconds
# SQLite integers are signed 64-bit; one below the top so that ``last + 1`` (resume, gaps) fits
MAX_SEQ = 2**63 - 2


def event_time_seconds(value: object) -> float | None:
    """An event time as POSIX seconds: numbers (seconds, or milliseconds when > 1e11) or ISO
    8601 text (naive means UTC). ``None`` when it is neither."""
    if isinstance(value, bool):
        return None
    try:  # huge integers overflow float conversion; odd dates overflow timestamp()
        if isinstance(value, (int, float)):
            if not math.isfinite(value):
                return None
            return value / 1000.0 if abs(value) > _MS_EPOCH else float(value)
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.timestamp()
    except (ValueError, OverflowError, OSError):
        return None
    return None


def json_type(value: object) -> str | None:
    """The JSON type of a parsed value; ``None`` for null (and NaN, which is missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


JSON_TYPES: dict[type, str | None] = {
    type(None): None,
    bool: "boolean",
    int: "number",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}


def as_seq(value: object) -> int | None:
    """``value`` if it is an integer sequence number (not a bool), else ``None``."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def checked_seq(value: object, field: str) -> int | None:
    """A row's sequence number: ``None`` when absent (null), the integer when it is one in
    ``0..MAX_SEQ``; ``ValueError`` naming the problem otherwise (float, text, bool, range)."""
    if value is None:
        return None
    if type(value) is not int:  # bool, float ("3.0") and text ("3") are refused, not coerced
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
        raise ValueError(
            f"sequence number {field!r} is {json_type(value)} {shown}, not an integer"
        )
    if not 0 <= value <= MAX_SEQ:
        shown = str(value) if value.bit_length() < 128 else f"a {value.bit_length()}-bit integer"
        raise ValueError(
            f"sequence number {field!r} = {shown} is outside 0..{MAX_SEQ} (64-bit, not negative)"
        )
    return value


def check_row(row: Row, schema: dict[str, str | None]) -> tuple[bool, int]:
    """(violates the schema, missing values) of a row; fills types still unknown in ``schema``."""
    violation = row.keys() != schema.keys()
    missing = 0
    for key, expected in schema.items():
        value = row.get(key)
        kind = JSON_TYPES.get(type(value), "?")  # exact types: what json.loads makes
        if kind == "?":
            kind = json_type(value)
        if kind is None or (kind == "number" and value != value):  # null or NaN
            missing += 1
        elif kind != expected:
            if expected is None:
                schema[key] = kind
            else:
                violation = True
    return violation, missing


@dataclass(frozen=True)
class StreamQuality:
    """How a stream is doing. Counters are cumulative over the store's life unless noted."""

    name: str
    connected: bool
    rows_stored: int  # rows in the store
    rows_received: int  # new rows stored since this source was created
    window_rows: int  # rows in the rolling window
    rate: float  # rows per second received over the last ``rate_interval`` seconds
    lag_seconds: float | None  # now minus the newest event (or receive) time; None before rows
    lag_basis: Literal["event", "receive"]
    last_seq: int | None
    gap_count: int  # ranges of skipped sequence numbers
    missing_seqs: int  # sequence numbers skipped in all
    gaps: tuple[tuple[int, int], ...]  # the last few gap ranges, inclusive
    missing_fraction: float  # share of missing (absent or null) values among expected cells
    schema_violations: int  # rows whose keys or value types differ from the first-seen schema
    garbage_frames: int  # frames not UTF-8 JSON objects or lists of objects, or with a bad row
    duplicates: int  # rows whose sequence number was already stored
    reconnects: int  # connection attempts after the first, in this source's life
    last_error: str | None
    rejected_rows: int = 0  # rows refused (bad sequence number, not an object...), not stored
    last_rejected: str | None = None  # why the last garbage frame was refused (this source)
    window_bytes: int = 0  # JSON text held by the rolling window
    window_max_bytes: int = 0  # its bound
    buffer_bytes: int = 0  # frames read but not yet stored, now
    buffer_peak_bytes: int = 0  # the most ever held at once, in this source's life
    buffer_max_bytes: int = 0  # the bound (one larger frame is let through alone)
    # a follower (``follower.StreamFollower``) reads the store another process consumes into:
    # its counters come from the store; connected, reconnects, last_error, last_rejected and the
    # buffer figures belong to that process and are not known (False, 0, None, 0)
    following: bool = False

    def summary(self) -> str:
        """One line for logs and status bars."""
        lag = "n/a" if self.lag_seconds is None else f"{self.lag_seconds:.2f} s"
        return (
            f"{self.name}: {self.rows_stored:,} rows, {self.rate:,.1f} rows/s, lag {lag}, "
            f"{self.gap_count} gaps ({self.missing_seqs:,} missing), "
            f"{self.schema_violations:,} schema violations, "
            f"{self.garbage_frames:,} garbage frames, "
            f"{self.state()}"
        )

    def state(self) -> str:
        """connected, disconnected, or following the store of another consumer."""
        if self.following:
            return "following the store of another consumer"
        return "connected" if self.connected else "disconnected"


@dataclass
class Counters:
    """Cumulative counts of a stream's problems, kept in its store's metadata."""

    garbage_frames: int = 0
    rejected_rows: int = 0
    schema_violations: int = 0
    duplicates: int = 0
    missing_cells: int = 0
    expected_cells: int = 0


SeqLookup = Callable[[int], bool]  # is this sequence number in the store?


@dataclass
class SeqState:
    """Sequence numbers seen: smallest, largest and the gaps (inclusive ranges) between.

    ``gap_count`` and ``missing`` count every gap. At most ``max_gaps`` of the newest gap ranges
    are kept in memory; numbers below ``floor`` (older gaps, dropped) are looked up in the store
    through the ``lookup`` given to ``stored`` and ``add``, so a server skipping every other
    number costs O(``max_gaps``) memory, not O(rows).
    """

    first: int | None = None
    last: int | None = None
    gaps: list[list[int]] | None = None
    max_gaps: int | None = None  # None: keep every gap in memory
    floor: int | None = None  # numbers below are not covered by ``gaps``
    gap_count: int = -1  # -1: count ``gaps`` (a state built from a full list)
    missing: int = -1

    def __post_init__(self) -> None:
        if self.gaps is None:
            self.gaps = []
        if self.gap_count < 0:
            self.gap_count = len(self.gaps)
        if self.missing < 0:
            self.missing = sum(end - start + 1 for start, end in self.gaps)
        self._trim()

    def copy(self) -> SeqState:
        return SeqState(self.first, self.last, [list(g) for g in self.gaps or []], self.max_gaps,
                        self.floor, self.gap_count, self.missing)

    def recent_gaps(self, count: int) -> tuple[tuple[int, int], ...]:
        """The newest ``count`` gap ranges."""
        return tuple((start, end) for start, end in (self.gaps or [])[-count:])

    def _below_floor(self, seq: int) -> bool:
        return self.floor is not None and seq < self.floor

    def stored(self, seq: int, lookup: SeqLookup | None = None) -> bool:
        """True if ``seq`` is already in the store (the store holds every number from first to
        last except the gaps)."""
        if self.first is None or self.last is None or not self.first <= seq <= self.last:
            return False
        if self._below_floor(seq):
            return self._look(seq, lookup)
        gaps = self.gaps or []
        i = bisect.bisect_right(gaps, [seq, math.inf]) - 1
        return not (i >= 0 and gaps[i][0] <= seq <= gaps[i][1])

    def _look(self, seq: int, lookup: SeqLookup | None) -> bool:
        if lookup is None:
            raise ValueError(f"sequence number {seq} is below the tracked gaps; pass a lookup")
        return lookup(seq)

    def add(self, seq: int, lookup: SeqLookup | None = None) -> None:
        """Record a newly stored ``seq`` (not already stored)."""
        gaps = self.gaps if self.gaps is not None else []
        if self.first is None or self.last is None:
            self.first = self.last = seq
            return
        if seq > self.last:
            if seq > self.last + 1:
                gaps.append([self.last + 1, seq - 1])
                self.gap_count += 1
                self.missing += seq - self.last - 1
            self.last = seq
        elif seq < self.first:
            if seq < self.first - 1:
                self.gap_count += 1
                self.missing += self.first - 1 - seq
                if self.floor is None:
                    gaps.insert(0, [seq + 1, self.first - 1])
            self.first = seq
        elif self._below_floor(seq):  # a late row in a gap no longer kept in memory
            self.missing -= 1
            left = self._look(seq - 1, lookup)
            right = seq + 1 == self.floor or self._look(seq + 1, lookup)
            self.gap_count += (not left and not right) - (left and right)
        else:  # a late row filling (part of) a gap
            i = bisect.bisect_right(gaps, [seq, math.inf]) - 1
            start, end = gaps[i]
            replacement = [[start, seq - 1]] if start < seq else []
            if seq < end:
                replacement.append([seq + 1, end])
            gaps[i : i + 1] = replacement
            self.missing -= 1
            self.gap_count += len(replacement) - 1
        self._trim()

    def _trim(self) -> None:
        gaps = self.gaps or []
        if self.max_gaps is None or len(gaps) <= self.max_gaps:
            return
        drop = len(gaps) - self.max_gaps
        self.floor = gaps[drop - 1][1] + 1  # stored: gaps are maximal ranges
        del gaps[:drop]
