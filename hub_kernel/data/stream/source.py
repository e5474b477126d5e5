"""``StreamSource``: a WebSocket client with a durable store, a rolling window and quality figures.

``StreamSource(url, name)`` connects with the ``websockets`` library and treats every text or
binary frame as UTF-8 JSON: one object (a row) or a list of objects (rows). A frame that cannot
be used (not UTF-8, not JSON, not an object or list, or any other failure) is counted as a
garbage frame and the stream goes on; a bad row inside a list (a sequence number that is not an
integer in 0..2**63-2, a value that is not an object) is refused alone and the list's other rows
are stored.

A row counts as received only once it is committed to the stream's store, a SQLite database in
WAL mode at ``settings.streams_dir/<name>.sqlite`` (one transaction per batch of frames,
``synchronous=FULL``), so a consumer killed at any moment loses no row it has reported. Rows
carrying an integer sequence number (``sequence_field``, default ``seq``) are keyed by it: resent
rows are counted as duplicates and not stored twice, skipped numbers are recorded as gaps, and a
reconnecting source asks the server to resume after the last stored number (``?from=<last+1>``).

Memory is bounded in bytes: frames read but not yet stored (``buffer_bytes``; beyond it the
reader waits and TCP slows the server), the rolling window (``window_bytes`` of JSON text as
well as ``window_rows``) and the gap ranges kept in memory (``max_gap_ranges``; older gaps are
counted and looked up in the store).

Threading: ``start()`` runs the client in a daemon thread with its own asyncio loop, so it works
inside a Jupyter kernel whose loop is already running; ``await source.run(stop_event)`` runs it in
the caller's loop instead. Subscribers given to ``on_rows`` are called in the stream's thread and
must hand rows to their own thread (``widgets.live`` does so). ``window()``, ``quality()`` and
``read_all()`` may be called from any thread.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import random
import sqlite3
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pandas as pd

from hub_kernel.core.config import get_settings
from hub_kernel.data.stream.quality import (
    Counters,
    Row,
    SeqState,
    StreamQuality,
    check_row,
    checked_seq,
    event_time_seconds,
    json_type,
)
from hub_kernel.data.stream.store import StreamStore, read_store, store_path
from hub_kernel.exceptions import StreamError, StreamFrameError

try:  # POSIX advisory locks: one consumer per store
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("hub_kernel")

RowsCallback = Callable[[list[Row]], None]

_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
_GARBAGE_LOGGED = 10  # garbage frames logged one by one; then one line every 1000
_MAX_BATCH = 5_000  # frames committed in one transaction at most
_MAX_PENDING = 10_000  # frames read but not yet committed (then TCP back-pressure)
_SHOWN = 60  # characters of a refused frame shown in logs


class _Pending:
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


class StreamSource:
    """A live stream of JSON rows over WebSocket, stored durably, with a rolling window.

    ``window_rows`` defaults to ``settings.stream_window_rows`` and the reconnect back-off cap
    to ``settings.stream_backoff_max_seconds``. ``time_field`` names the rows' event time
    (seconds since the epoch or ISO 8601); without it lag is measured from receive times.
    ``resume_param`` is the query parameter asking the server to resume at a sequence number
    (``None``: never ask). The state of an existing store (rows, last sequence number, gaps,
    counters, window) is reloaded on creation; only one source may use a store at a time.

    Bounds: ``window_bytes`` (default ``settings.stream_window_bytes``) of JSON text in the
    window; ``buffer_bytes`` (default ``settings.stream_buffer_bytes``, at least
    ``max_message_bytes``) of frames read but not stored; ``max_gap_ranges`` gap ranges in memory.
    """

    def __init__(
        self,
        url: str,
        name: str,
        *,
        window_rows: int | None = None,
        store_dir: str | Path | None = None,
        sequence_field: str | None = "seq",
        time_field: str | None = None,
        resume_param: str | None = "from",
        backoff_initial_seconds: float = 0.5,
        backoff_max_seconds: float | None = None,
        rate_interval: float = 5.0,
        open_timeout: float = 10.0,
        max_message_bytes: int = 2**24,
        window_bytes: int | None = None,
        buffer_bytes: int | None = None,
        max_gap_ranges: int = 1_000,
    ) -> None:
        settings = get_settings()
        self.url = url
        self.name = name
        self.window_size = window_rows or settings.stream_window_rows
        self.window_max_bytes = window_bytes or settings.stream_window_bytes
        self.buffer_max_bytes = buffer_bytes or settings.stream_buffer_bytes
        self.max_gap_ranges = max(1, max_gap_ranges)
        if self.buffer_max_bytes < max_message_bytes:
            raise StreamError(
                name,
                f"buffer_bytes ({self.buffer_max_bytes:,}) must hold at least one frame of "
                f"max_message_bytes ({max_message_bytes:,}); raise it or lower max_message_bytes",
            )
        self.sequence_field = sequence_field
        self.time_field = time_field
        self.resume_param = resume_param
        self.backoff_initial = backoff_initial_seconds
        self.backoff_max = backoff_max_seconds or settings.stream_backoff_max_seconds
        self.rate_interval = rate_interval
        self.open_timeout = open_timeout
        self.max_message_bytes = max_message_bytes
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise StreamError(url, "not a WebSocket URL; use ws://host:port/path or wss://...")
        self._loopback = parts.hostname in _LOOPBACK_HOSTS
        self.store_path = store_path(name, store_dir)
        self._lock_file = self._acquire(self.store_path.with_suffix(".lock"))
        try:
            self._store = StreamStore(self.store_path)
        except BaseException:
            self._release()
            raise
        try:
            count, seqs, window, meta, received = self._store.load(
                self.window_size, self.window_max_bytes, self.max_gap_ranges
            )
        except (sqlite3.Error, ValueError) as exc:
            self._store.close()
            self._release()
            raise StreamError(
                self.store_path,
                f"the stream store is damaged ({exc}); move it away to start the stream afresh",
            ) from exc
        self._guard = threading.Lock()  # window, counters and subscribers
        self._rows_stored = count
        self._rows_received = 0
        self._seqs = seqs
        self._window: deque[Row] = deque(row for row, _ in window)
        self._window_sizes: deque[int] = deque(size for _, size in window)
        self._window_bytes = sum(self._window_sizes)
        fields = Counters.__dataclass_fields__
        self._counters = Counters(**{k: int(meta.get(k, 0)) for k in fields})
        self._schema: dict[str, str | None] | None = meta.get("schema")
        self._last_received = received or None
        self._last_event: float | None = None
        if time_field is not None:
            times = [event_time_seconds(r.get(time_field)) for r, _ in window]
            self._last_event = max((t for t in times if t is not None), default=None)
        self._samples: deque[tuple[float, int]] = deque()  # (monotonic time, rows) per batch
        self._first_batch_at: float | None = None
        self._subscribers: list[RowsCallback] = []
        self._connected = False
        self._reconnects = 0
        self._last_error: str | None = None
        self._last_rejected: str | None = None
        self._pending: _Pending | None = None  # the live session's buffer
        self._buffer_peak = 0
        self._too_big_at: int | None = None  # resume point of the last frame over the size cap
        self._resume_at: int | None = None  # a resume point past an oversized frame
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._running = False
        self._closed = False
        logger.info(
            "stream %s: store %s holds %d rows (last seq %s)",
            name,
            self.store_path,
            count,
            seqs.last,
        )

    # ---- public API -------------------------------------------------------------------------

    @property
    def last_seq(self) -> int | None:
        """The largest stored sequence number."""
        return self._seqs.last

    @property
    def running(self) -> bool:
        return self._running

    def on_rows(self, callback: RowsCallback) -> Callable[[], None]:
        """Call ``callback(rows)`` (in the stream's thread) after each batch is stored.

        Returns a function that unsubscribes."""
        with self._guard:
            self._subscribers.append(callback)
        return self._unsubscriber(callback)

    def _unsubscriber(self, callback: RowsCallback) -> Callable[[], None]:
        def unsubscribe() -> None:
            with self._guard, contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    def follow(self, callback: RowsCallback) -> tuple[list[Row], Callable[[], None]]:
        """The window now and a subscription (as ``on_rows``) to every row stored after it,
        taken atomically: no row is missed or seen twice."""
        with self._guard:
            window = list(self._window)
            self._subscribers.append(callback)
        return window, self._unsubscriber(callback)

    def window(self) -> pd.DataFrame:
        """The rolling window (the last ``window_size`` rows) as a DataFrame."""
        return pd.DataFrame.from_records(self.window_records())

    def window_records(self) -> list[Row]:
        """The rolling window as a list of rows (a copy)."""
        with self._guard:
            return list(self._window)

    def read_all(self) -> pd.DataFrame:
        """Every stored row, in the order received."""
        return read_store(self.name, self.store_path.parent)

    def quality(self) -> StreamQuality:
        """The stream's quality figures now."""
        now_wall, now = time.time(), time.monotonic()
        with self._guard:
            while self._samples and self._samples[0][0] < now - self.rate_interval:
                self._samples.popleft()
            recent = sum(n for _, n in self._samples)
            span = 0.0 if self._first_batch_at is None else now - self._first_batch_at
            rate = recent / max(min(self.rate_interval, span), 1.0) if recent else 0.0
            basis: Literal["event", "receive"] = "event" if self._last_event else "receive"
            newest = self._last_event or self._last_received
            seqs = self._seqs
            c = self._counters
            pending = self._pending
            return StreamQuality(
                name=self.name,
                connected=self._connected,
                rows_stored=self._rows_stored,
                rows_received=self._rows_received,
                window_rows=len(self._window),
                rate=rate,
                lag_seconds=None if newest is None else max(0.0, now_wall - newest),
                lag_basis=basis,
                last_seq=self._seqs.last,
                gap_count=seqs.gap_count,
                missing_seqs=seqs.missing,
                gaps=seqs.recent_gaps(20),
                missing_fraction=c.missing_cells / c.expected_cells if c.expected_cells else 0.0,
                schema_violations=c.schema_violations,
                garbage_frames=c.garbage_frames,
                duplicates=c.duplicates,
                reconnects=self._reconnects,
                last_error=self._last_error,
                rejected_rows=c.rejected_rows,
                last_rejected=self._last_rejected,
                window_bytes=self._window_bytes,
                window_max_bytes=self.window_max_bytes,
                buffer_bytes=pending.bytes if pending is not None else 0,
                buffer_peak_bytes=max(self._buffer_peak, pending.peak if pending else 0),
                buffer_max_bytes=self.buffer_max_bytes,
            )

    def start(self) -> StreamSource:
        """Consume in a daemon thread with its own event loop (safe inside a Jupyter kernel)."""
        if self._closed:
            raise StreamError(self.url, f"stream {self.name!r} was closed; create a new source")
        if self._thread is not None and self._thread.is_alive():
            return self
        started = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._stop = asyncio.Event()
            started.set()
            try:
                loop.run_until_complete(self.run(self._stop))
            except StreamError as exc:
                logger.error("stream %s stopped: %s", self.name, exc)
            finally:
                loop.close()

        self._thread = threading.Thread(target=main, name=f"hub-stream-{self.name}", daemon=True)
        self._thread.start()
        started.wait(5)
        atexit.register(self.close)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop consuming (rows already read are stored first) and wait for the thread."""
        loop, stop, thread = self._loop, self._stop, self._thread
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(stop.set)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                logger.warning("stream %s: thread still running after %.1f s", self.name, timeout)

    def close(self) -> None:
        """Stop, close the store and release it for another consumer."""
        if self._closed:
            return
        self.stop()
        self._closed = True
        self._store.close()
        self._release()
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)

    def __enter__(self) -> StreamSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"StreamSource({self.url!r}, {self.name!r}, rows={self._rows_stored})"

    # ---- the client loop --------------------------------------------------------------------

    async def run(self, stop_event: asyncio.Event | None = None) -> None:
        """Consume until ``stop_event`` is set, reconnecting with capped, jittered back-off.

        Raises ``StreamError`` when the store cannot be written (nothing else stops it)."""
        if self._running:
            raise StreamError(self.url, f"stream {self.name!r} is already running")
        if self._closed:
            raise StreamError(self.url, f"stream {self.name!r} was closed; create a new source")
        stop = stop_event or asyncio.Event()
        self._running = True
        attempt = 0
        try:
            while not stop.is_set():
                session = asyncio.create_task(self._session(stop))
                stopper = asyncio.create_task(stop.wait())
                await asyncio.wait({session, stopper}, return_when=asyncio.FIRST_COMPLETED)
                stopper.cancel()
                if not session.done():  # stopping: a live session stores what it read, then ends
                    if self._connected:
                        await asyncio.wait({session}, timeout=5)
                    session.cancel()
                    await asyncio.gather(session, return_exceptions=True)
                    break
                stored = session.result()  # re-raises StreamError from the store
                if stop.is_set():
                    break
                attempt = 0 if stored else attempt + 1
                delay = self._backoff(attempt)
                self._reconnects += 1
                logger.info("stream %s: reconnecting in %.2f s", self.name, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        except StreamError as exc:
            self._last_error = str(exc)
            raise
        finally:
            self._running = False
            self._connected = False

    async def _session(self, stop: asyncio.Event) -> int:
        """One connection: connect, consume until it ends; rows stored."""
        import websockets
        from websockets.asyncio.client import connect

        url = self._resume_url()
        try:
            async with connect(
                url,
                open_timeout=self.open_timeout,
                close_timeout=2,
                max_size=self.max_message_bytes,
                # the library's own frame queue: kept within the byte budget as well
                max_queue=max(1, min(16, self.buffer_max_bytes // self.max_message_bytes)),
                proxy=None if self._loopback else True,
            ) as ws:
                self._connected = True
                logger.info("stream %s: connected to %s", self.name, url)
                return await self._consume(ws, stop)
        except (TimeoutError, OSError, websockets.WebSocketException) as exc:
            self._last_error = f"{type(exc).__name__}: {exc}"
            logger.warning("stream %s: cannot connect to %s: %s", self.name, url, self._last_error)
            return 0
        except StreamError:
            raise  # the store cannot be written: stop
        except Exception as exc:  # a bug must not kill the consumer: log it, reconnect
            self._last_error = f"stream {self.name!r}: unexpected {type(exc).__name__}: {exc}"
            logger.exception("stream %s: unexpected failure; reconnecting", self.name)
            return 0
        finally:
            self._connected = False

    def _backoff(self, attempt: int) -> float:
        """Exponential back-off with "equal jitter", capped at ``backoff_max``."""
        ceiling = min(self.backoff_max, self.backoff_initial * 2 ** min(attempt, 30))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - not cryptographic

    def _next_seq(self) -> int | None:
        """Where a reconnecting source resumes: after the last stored number, or past an
        oversized frame."""
        last = self._seqs.last
        if last is None:
            return self._resume_at
        return max(last + 1, self._resume_at or 0)

    def _resume_url(self) -> str:
        point = self._next_seq()
        if self.resume_param is None or point is None:
            return self.url
        parts = urlsplit(self.url)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != self.resume_param]
        query.append((self.resume_param, str(point)))
        return urlunsplit(parts._replace(query=urlencode(query)))

    def _too_big(self) -> None:
        """A frame over ``max_message_bytes`` closed the connection (1009): count it, and when
        it comes twice at the same resume point, resume past it (a gap) so as not to loop."""
        point = self._next_seq()
        cap = f"max_message_bytes ({self.max_message_bytes:,} bytes)"
        if point is not None and point == self._too_big_at and self.resume_param is not None:
            self._resume_at, self._too_big_at = point + 1, None
            reason = (f"a frame larger than {cap} came twice at sequence number {point}; "
                      f"skipping it (resuming at {point + 1}); raise max_message_bytes to keep "
                      "such rows")
        else:
            self._too_big_at = point
            reason = (f"a frame larger than {cap} closed the connection (code 1009); raise "
                      "max_message_bytes if such frames are expected")
        counters = Counters(**vars(self._counters))
        self._refused(b"", counters, reason)
        meta: dict[str, Any] = dict(vars(counters))
        if self._schema is not None:
            meta["schema"] = self._schema
        self._store.append([], meta)
        with self._guard:
            self._counters = counters

    async def _consume(self, ws: Any, stop: asyncio.Event) -> int:
        """Read frames and store them in batches until the connection ends; rows stored.

        A reader task queues frames; this loop commits whatever is queued as one batch, so
        batches grow when the store is slower than the network."""
        from websockets.exceptions import ConnectionClosed
        from websockets.frames import CloseCode

        pending = _Pending(_MAX_PENDING, self.buffer_max_bytes)
        self._pending = pending
        ending: list[str] = []
        too_big: list[bool] = []

        async def read() -> None:
            try:
                async for frame in ws:
                    await pending.put(frame)
            except ConnectionClosed as exc:
                ending.append(f"connection lost: {exc}")
                if exc.sent is not None and exc.sent.code == CloseCode.MESSAGE_TOO_BIG:
                    too_big.append(True)
            finally:
                await pending.put(None)

        async def close_on_stop() -> None:
            await stop.wait()
            await ws.close()

        reader = asyncio.create_task(read())
        closer = asyncio.create_task(close_on_stop())
        stored = 0
        try:
            while True:
                batch = await pending.take(_MAX_BATCH)
                frames = [f for f, _ in batch if f is not None]
                stored += self._ingest(frames)
                await pending.release(batch)
                if len(frames) < len(batch):  # the end marker
                    break
        finally:
            closer.cancel()
            reader.cancel()
            await asyncio.gather(reader, closer, return_exceptions=True)
            self._buffer_peak = max(self._buffer_peak, pending.peak)
            self._pending = None
        if not stop.is_set():
            self._last_error = (
                ending[0]
                if ending
                else (f"closed by the server: code {ws.close_code} {ws.close_reason or ''}".strip())
            )
            log = logger.warning if ending else logger.info
            log("stream %s: %s after %d new rows", self.name, self._last_error, stored)
            if too_big:
                self._too_big()
        return stored

    # ---- turning frames into stored rows ----------------------------------------------------

    def _parse(self, frame: str | bytes) -> list[tuple[object, str | None]]:
        """The items of a frame, each with its JSON text when the frame is one object; raises
        (``StreamFrameError`` or whatever parsing raised) when the frame is garbage."""
        if isinstance(frame, bytes):
            try:
                text = frame.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise StreamFrameError(
                    self.name,
                    f"a binary frame is not UTF-8 ({exc.reason} at byte {exc.start}); "
                    "JSON over WebSocket must be UTF-8 (RFC 8259)",
                ) from None
        else:
            text = frame
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise StreamFrameError(self.name, f"not JSON ({exc})") from None
        if isinstance(value, dict):
            return [(value, text)]
        if isinstance(value, list):  # [] = no rows
            return [(v, None) for v in value]
        raise StreamFrameError(
            self.name,
            f"a JSON {json_type(value) or 'null'} is not a row; send an object or a list of them",
        )

    def _accept(
        self, item: object, text: str | None, seqs: SeqState, lookup: Callable[[int], bool]
    ) -> tuple[Row, int | None, str] | None:
        """Check one row without changing any state: (row, seq, JSON text), ``None`` for a
        duplicate; raises naming the problem when the row must be refused."""
        if not isinstance(item, dict):
            raise ValueError(f"a JSON {json_type(item) or 'null'} is not a row (an object)")
        seq = None
        if self.sequence_field is not None:
            seq = checked_seq(item.get(self.sequence_field), self.sequence_field)
            if seq is not None and seqs.stored(seq, lookup):
                return None
        return item, seq, text if text is not None else json.dumps(item)

    def _refused(self, frame: str | bytes, counters: Counters, reason: str) -> None:
        """Count a garbage frame and say why (last_error, last_rejected, throttled log)."""
        counters.garbage_frames += 1
        count = counters.garbage_frames
        message = f"stream {self.name!r}: garbage frame #{count} ignored: {reason}"
        self._last_error = self._last_rejected = message
        if count <= _GARBAGE_LOGGED or count % 1000 == 0:
            logger.warning("%s: %r", message, frame[:_SHOWN])

    def _ingest(self, frames: list[str | bytes]) -> int:
        """Store the rows of ``frames`` in one transaction, then publish them. Rows stored.

        Any failure on one frame or row makes it garbage; the batch's other rows are stored."""
        received = time.time()
        seqs = self._seqs.copy()
        counters = Counters(**vars(self._counters))
        schema = dict(self._schema) if self._schema is not None else None
        records: list[tuple[int | None, float, str]] = []
        rows: list[Row] = []
        sizes: list[int] = []
        last_event = self._last_event
        fresh: set[int] = set()  # this batch's numbers below the gap floor (not yet committed)

        def lookup(seq: int) -> bool:
            return seq in fresh or self._store.has_seq(seq)

        for frame in frames:
            try:
                items = self._parse(frame)
            except Exception as exc:
                self._refused(frame, counters, _reason(exc))
                continue
            problems: list[str] = []
            for position, (item, text) in enumerate(items):
                try:
                    accepted = self._accept(item, text, seqs, lookup)
                    if accepted is None:
                        counters.duplicates += 1
                        continue
                    row, seq, data = accepted
                    event = None
                    if self.time_field is not None:
                        event = event_time_seconds(row.get(self.time_field))
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
                records.append((seq, received, data))
                rows.append(row)
                sizes.append(len(data))
            if problems:
                more = f" (and {len(problems) - 1} more bad rows)" if len(problems) > 1 else ""
                self._refused(frame, counters, problems[0] + more)
        if not records and counters == self._counters:
            return 0
        meta: dict[str, Any] = dict(vars(counters))
        if schema is not None:
            meta["schema"] = schema
        self._store.append(records, meta)  # rows are received from here on
        now = time.monotonic()
        with self._guard:
            self._seqs = seqs
            self._counters = counters
            self._schema = schema
            self._extend_window(rows, sizes)
            self._rows_stored += len(rows)
            self._rows_received += len(rows)
            if rows:
                self._last_received = received
                self._last_event = last_event
                self._samples.append((now, len(rows)))
                while self._samples[0][0] < now - self.rate_interval:
                    self._samples.popleft()
                if self._first_batch_at is None:
                    self._first_batch_at = now
            subscribers = list(self._subscribers)
        if rows:
            for callback in subscribers:
                try:
                    callback(rows)
                except Exception:
                    logger.exception("stream %s: a rows subscriber failed", self.name)
        return len(rows)

    def _extend_window(self, rows: list[Row], sizes: list[int]) -> None:
        """Append to the window, dropping the oldest rows beyond its row and byte bounds (a row
        larger than the byte bound alone is stored but not kept in the window)."""
        window, held = self._window, self._window_sizes
        for row, size in zip(rows, sizes, strict=True):
            window.append(row)
            held.append(size)
            self._window_bytes += size
            while window and (
                len(window) > self.window_size or self._window_bytes > self.window_max_bytes
            ):
                window.popleft()
                self._window_bytes -= held.popleft()

    # ---- one consumer per store ---------------------------------------------------------------

    def _acquire(self, path: Path) -> Any:
        if fcntl is None:  # pragma: no cover - Windows
            return None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = path.open("a+")
        except OSError as exc:
            raise StreamError(
                path,
                f"cannot create the stream's lock file ({exc}); check that HUB_HOME is writable",
            ) from exc
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise StreamError(
                self.url,
                f"stream {self.name!r} is already being consumed (its "
                f"store {path.with_suffix('.sqlite')} is locked); close that "
                "source or pick another name",
            ) from None
        return handle

    def _release(self) -> None:
        handle, self._lock_file = getattr(self, "_lock_file", None), None
        if handle is not None:
            handle.close()  # closing drops the flock


def _reason(exc: BaseException) -> str:
    """What went wrong with a frame, for messages."""
    if isinstance(exc, StreamFrameError):
        return exc.reason
    if type(exc) is ValueError:  # raised by the row checks with the problem named
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
