"""A stream's frames before they are stored: the bounded buffer they wait in, and their decoding.

Every text or binary frame is UTF-8 JSON: one object (a row) or a list of objects (rows).
``parse_frame`` decodes one (raising when it is garbage), ``accept_row`` checks one row without
changing any state, and ``decode_frames`` turns a batch of frames into the rows to store,
counting duplicates, refused rows, schema violations and missing cells on the way.
``PendingFrames`` holds frames read but not yet stored, bounded in count and in bytes.

A transport whose messages are not WebSocket frames (Redis Streams entries) gives
``decode_frames`` its own ``parse`` (one message to its rows) and ``key_of`` (the message's own
id): a message whose key is already stored is a duplicate, and each such message holds one row.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hub_kernel.data.stream.quality import (
    Counters,
    Row,
    SeqState,
    check_row,
    checked_seq,
    event_time_seconds,
    json_type,
)
from hub_kernel.exceptions import StreamFrameError

Refuse = Callable[[Any, Counters, str], None]  # (frame, counters, reason)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # \ud800-\udfff in JSON text
Parse = Callable[[Any, str], list[tuple[object, str | None]]]  # (frame, stream name) -> items
KeyOf = Callable[[Any], str]  # a message's own id (the store's ``key``)


class PendingFrames:
    """Frames read but not yet stored, bounded in count and in bytes (``sys.getsizeof``): the
    reader waits while full, so TCP back-pressure slows the server. A frame's bytes are released
    only once its batch is stored; a frame larger than the bound is let in alone."""

    def __init__(self, max_frames: int, max_bytes: int) -> None:
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.queued: deque[tuple[str | bytes | None, int]] = deque()
        self.frames = 0  # queued or in the batch being stored
        self.bytes = 0
        self.peak = 0
        self._changed = asyncio.Condition()

    def _room(self, size: int) -> bool:
        return self.frames == 0 or (
            self.frames < self.max_frames and self.bytes + size <= self.max_bytes
        )

    async def put(self, frame: str | bytes | None) -> None:
        """Queue a frame (``None``: the end), waiting for room."""
        size = 0 if frame is None else sys.getsizeof(frame)
        async with self._changed:
            if frame is not None:
                await self._changed.wait_for(lambda: self._room(size))
            self.queued.append((frame, size))
            self.frames += 1
            self.bytes += size
            self.peak = max(self.peak, self.bytes)
            self._changed.notify_all()

    async def take(self, limit: int) -> list[tuple[str | bytes | None, int]]:
        """Up to ``limit`` queued frames with their sizes (waits for one); still held."""
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self.queued))
            count = min(limit, len(self.queued))
            return [self.queued.popleft() for _ in range(count)]

    async def release(self, batch: list[tuple[str | bytes | None, int]]) -> None:
        """Forget a stored batch, making room for the reader."""
        async with self._changed:
            self.frames -= len(batch)
            self.bytes -= sum(size for _, size in batch)
            self._changed.notify_all()


def parse_frame(frame: str | bytes, name: str) -> list[tuple[object, str | None]]:
    """The items of a frame of stream ``name``, each with its JSON text when the frame is one
    object; raises (``StreamFrameError`` or whatever parsing raised) when the frame is garbage."""
    if isinstance(frame, bytes):
        try:
            text = frame.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StreamFrameError(
                name,
                f"a binary frame is not UTF-8 ({exc.reason} at byte {exc.start}); "
                "JSON over WebSocket must be UTF-8 (RFC 8259)",
            ) from None
    else:
        text = frame
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise StreamFrameError(name, f"not JSON ({exc})") from None
    if _SURROGATE_ESCAPE.search(text):  # rare: only then the full check
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise StreamFrameError(
                name, "a string holds half of a UTF-16 surrogate pair (an escape such as "
                "\\ud800 alone), which is not text; such a row could not be read back"
            ) from None
    if isinstance(value, dict):
        return [(value, text)]
    if isinstance(value, list):  # [] = no rows
        return [(v, None) for v in value]
    raise StreamFrameError(
        name,
        f"a JSON {json_type(value) or 'null'} is not a row; send an object or a list of them",
    )


def accept_row(
    item: object,
    text: str | None,
    sequence_field: str | None,
    seqs: SeqState,
    lookup: Callable[[int], bool],
) -> tuple[Row, int | None, str] | None:
    """Check one row without changing any state: (row, seq, JSON text), ``None`` for a
    duplicate; raises naming the problem when the row must be refused."""
    if not isinstance(item, dict):
        raise ValueError(f"a JSON {json_type(item) or 'null'} is not a row (an object)")
    seq = None
    if sequence_field is not None:
        seq = checked_seq(item.get(sequence_field), sequence_field)
        if seq is not None and seqs.stored(seq, lookup):
            return None
    return item, seq, text if text is not None else json.dumps(item)


@dataclass
class Batch:
    """The rows a batch of frames yields, ready to store."""

    records: list[tuple[int | None, float, str, str | None]]  # (seq, received, JSON, key)
    rows: list[Row]
    sizes: list[int]  # characters of each row's JSON text
    schema: dict[str, str | None] | None
    last_event: float | None


def decode_frames(
    frames: list[Any],
    *,
    name: str,
    sequence_field: str | None,
    time_field: str | None,
    received: float,
    seqs: SeqState,
    counters: Counters,
    schema: dict[str, str | None] | None,
    last_event: float | None,
    has_seq: Callable[[int], bool],
    refuse: Refuse,
    parse: Parse = parse_frame,
    key_of: KeyOf | None = None,
    has_key: Callable[[str], bool] | None = None,
    event_of: Callable[[Any], float | None] | None = None,
) -> Batch:
    """The rows of ``frames``, checked: ``seqs`` and ``counters`` (the caller's copies) are
    updated, ``has_seq`` says whether the store holds a number. Any failure on one frame or row
    makes it garbage (``refuse(frame, counters, reason)``); the batch's other rows are kept.

    With ``key_of``, every frame is one message of one row keyed by its id: a key in the store
    (``has_key``) or earlier in the batch is a duplicate. ``event_of`` gives a message's own
    event time (seconds), used when there is no ``time_field``."""
    records: list[tuple[int | None, float, str, str | None]] = []
    keys: set[str] = set()  # this batch's message ids
    rows: list[Row] = []
    sizes: list[int] = []
    fresh: set[int] = set()  # this batch's numbers below the gap floor (not yet committed)

    def lookup(seq: int) -> bool:
        return seq in fresh or has_seq(seq)

    for frame in frames:
        key = None
        try:
            if key_of is not None:
                key = key_of(frame)
                if key in keys or (has_key is not None and has_key(key)):
                    counters.duplicates += 1
                    continue
            items = parse(frame, name)
            if key is not None and len(items) != 1:
                raise StreamFrameError(name, f"message {key} holds {len(items)} rows, not one")
        except Exception as exc:
            refuse(frame, counters, _reason(exc))
            continue
        problems: list[str] = []
        for position, (item, text) in enumerate(items):
            try:
                accepted = accept_row(item, text, sequence_field, seqs, lookup)
                if accepted is None:
                    counters.duplicates += 1
                    continue
                row, seq, data = accepted
                event = None
                if time_field is not None:
                    event = event_time_seconds(row.get(time_field))
                elif event_of is not None:
                    event = event_of(frame)
            except Exception as exc:
                counters.rejected_rows += 1
                where = f"row {position + 1} of {len(items)}: " if len(items) > 1 else ""
                problems.append(where + _reason(exc))
                continue
            # nothing below raises: the row is accepted
            if seq is not None:
                if seqs.floor is not None and seq < seqs.floor:
                    fresh.add(seq)
                seqs.add(seq, lookup)
            if schema is None:
                schema = {k: json_type(v) for k, v in row.items()}
            violation, missing = check_row(row, schema)
            counters.schema_violations += violation
            counters.missing_cells += missing
            counters.expected_cells += len(schema)
            if event is not None and (last_event is None or event > last_event):
                last_event = event
            if key is not None:
                keys.add(key)
            records.append((seq, received, data, key))
            rows.append(row)
            sizes.append(len(data))
        if problems:
            more = f" (and {len(problems) - 1} more bad rows)" if len(problems) > 1 else ""
            refuse(frame, counters, problems[0] + more)
    return Batch(records, rows, sizes, schema, last_event)


def _reason(exc: BaseException) -> str:
    """What went wrong with a frame, for messages."""
    if isinstance(exc, StreamFrameError):
        return exc.reason
    if type(exc) is ValueError:  # raised by the row checks with the problem named
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
