"""The bytes of a CSV file as whole-record slices: from a memory map or from a stream (transcoded
to UTF-8 when the file is in another encoding), cut on line ends that end a record.
"""

from __future__ import annotations

import codecs
import io
import mmap
from collections.abc import Iterator
from typing import IO, Any, Protocol

import numpy as np


class Transcoder(io.RawIOBase):
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


class ReadInto(Protocol):
    def readinto(self, buffer: Any, /) -> int | None: ...


def _readinto_full(reader: ReadInto, view: memoryview) -> int:
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


def mapped_slices(
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


def buffered_slices(
    reader: ReadInto, capacity: int, quote_aware: bool
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


class Prepend(io.RawIOBase):
    """A stream of ``head`` followed by the rest of ``reader``."""

    def __init__(self, head: bytes, reader: ReadInto) -> None:
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


def first_record_end(data: bytes, start: int) -> int:
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


def read_up_to(reader: ReadInto, n: int) -> bytes:
    buffer = bytearray(n)
    return bytes(buffer[: _readinto_full(reader, memoryview(buffer))])

