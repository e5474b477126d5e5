"""``StreamSource``: a live stream (WebSocket or Redis Streams) with a durable store, a rolling
window and quality figures.

The URL's scheme picks the transport (``transports.TRANSPORTS``): ``ws://``/``wss://`` read
WebSocket frames as below; ``redis://``/``rediss://`` read a Redis stream with a consumer group
(``redis_client`` says how: one entry is one row, acknowledged once stored, kept exactly once by
its entry id). Everything else here (store, window, quality, subscribers, threads) is the same.

``StreamSource(url, name)`` connects with the ``websockets`` library and treats every text or
binary frame as UTF-8 JSON: one object (a row) or a list of objects (rows). A frame that cannot
be used (not UTF-8, not JSON, not an object or list, or any other failure) is counted as a
garbage frame and the stream goes on; a bad row inside a list (a sequence number that is not an
integer in 0..2**63-2, a value that is not an object) is refused alone and the list's other rows
are stored.

A row counts as received only once it is committed to the stream's store, a SQLite database in
WAL mode at ``settings.streams_dir/<name>.sqlite`` (one transaction per batch of frames,
``synchronous=FULL``), so a consumer killed at any moment loses no row it has reported. Rows
carrying an integer sequence number (``sequence_field``, default ``seq`` for WebSocket streams and
none for Redis streams, whose entry ids identify rows) are keyed by it: resent
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

The client loop (connect, reconnect, resume, read) is ``client.StreamClient``; frames are
buffered and decoded as ``frames`` says.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import pandas as pd

from hub_kernel.core.config import get_settings
from hub_kernel.core.redact import redact_url
from hub_kernel.core.registry import Registry
from hub_kernel.data.stream.client import StreamClient
from hub_kernel.data.stream.frames import PendingFrames, decode_frames, parse_frame
from hub_kernel.data.stream.quality import Counters, Row, StreamQuality, event_time_seconds
from hub_kernel.data.stream.store import StreamStore, read_store, store_path
from hub_kernel.data.stream.transports import TransportFactory
from hub_kernel.exceptions import StreamBusyError, StreamError

try:  # POSIX advisory locks: one consumer per store
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("hub_kernel")

RowsCallback = Callable[[list[Row]], None]


def _transports() -> list[tuple[str, TransportFactory]]:
    from hub_kernel.data.stream.client import WebSocketTransport
    from hub_kernel.data.stream.redis_client import RedisTransport

    return [("ws", WebSocketTransport), ("wss", WebSocketTransport),
            ("redis", RedisTransport), ("rediss", RedisTransport)]


#: stream transports by URL scheme (``transports`` says what one is)
TRANSPORTS: Registry[TransportFactory] = Registry(
    "stream transport", builtins=_transports, entry_point_group="hub.stream_transports"
)

_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
_GARBAGE_LOGGED = 10  # garbage frames logged one by one; then one line every 1000
_SHOWN = 60  # characters of a refused frame shown in logs


class StreamSource(StreamClient):
    """A live stream of JSON rows (WebSocket or Redis Streams), stored durably, with a window.

    ``name`` names the store (a Redis source defaults to its stream key); ``group``,
    ``consumer`` and ``start`` are for ``redis://`` URLs (see ``redis_client``).

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
        name: str | None = None,
        *,
        group: str | None = None,
        consumer: str | None = None,
        start: str | None = None,
        window_rows: int | None = None,
        store_dir: str | Path | None = None,
        sequence_field: str | None = "auto",
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
        self.display_url = redact_url(url)
        self.window_size = window_rows or settings.stream_window_rows
        self.window_max_bytes = window_bytes or settings.stream_window_bytes
        self.buffer_max_bytes = buffer_bytes or settings.stream_buffer_bytes
        self.max_gap_ranges = max(1, max_gap_ranges)
        if self.buffer_max_bytes < max_message_bytes:
            raise StreamError(
                name or self.display_url,
                f"buffer_bytes ({self.buffer_max_bytes:,}) must hold at least one frame of "
                f"max_message_bytes ({max_message_bytes:,}); raise it or lower max_message_bytes",
            )
        self.sequence_field: str | None = sequence_field
        self.time_field = time_field
        self.resume_param = resume_param
        self.backoff_initial = backoff_initial_seconds
        self.backoff_max = backoff_max_seconds or settings.stream_backoff_max_seconds
        self.rate_interval = rate_interval
        self.open_timeout = open_timeout
        self.max_message_bytes = max_message_bytes
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            raise StreamError(self.display_url, f"not a URL ({exc})") from None
        self._loopback = parts.hostname in _LOOPBACK_HOSTS
        if parts.scheme not in TRANSPORTS:
            raise StreamError(
                self.display_url,
                f"no stream transport for {parts.scheme or 'a URL without a scheme'}; use "
                + ", ".join(f"{s}://" for s in TRANSPORTS.names()),
            )
        options = {k: v for k, v in (("group", group), ("consumer", consumer),
                                      ("start", start)) if v is not None}
        self.name = name or ""  # the transport may derive a default name from the URL
        self._transport = TRANSPORTS.get(parts.scheme)(self, options)
        if name is None:
            name = self._transport.default_name()
            if name is None:
                raise StreamError(self.display_url, "give the stream a name (it names its store)")
        self.name = name
        if sequence_field == "auto":  # the transport's own rule: Redis entry ids identify rows
            self.sequence_field = getattr(self._transport, "sequence_field", "seq")
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
        self._pending: PendingFrames | None = None  # the live session's buffer
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
            raise StreamError(
                self.display_url, f"stream {self.name!r} was closed; create a new source"
            )
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
        return f"StreamSource({self.display_url!r}, {self.name!r}, rows={self._rows_stored})"

    # ---- turning frames into stored rows ----------------------------------------------------

    def _refused(self, frame: Any, counters: Counters, reason: str) -> None:
        """Count a garbage frame and say why (last_error, last_rejected, throttled log)."""
        counters.garbage_frames += 1
        count = counters.garbage_frames
        message = f"stream {self.name!r}: garbage frame #{count} ignored: {reason}"
        self._last_error = self._last_rejected = message
        if count <= _GARBAGE_LOGGED or count % 1000 == 0:
            shown = frame[:_SHOWN] if isinstance(frame, str | bytes) else frame
            logger.warning("%s: %r", message, shown)

    def _ingest(self, frames: list[Any], **how: Any) -> int:
        """Store the rows of ``frames`` in one transaction, then publish them. Rows stored.

        Any failure on one frame or row makes it garbage; the batch's other rows are stored.
        ``how``: a transport's own ``parse``, ``key_of`` and ``event_of``
        (``frames.decode_frames``)."""
        received = time.time()
        seqs = self._seqs.copy()
        counters = Counters(**vars(self._counters))
        batch = decode_frames(
            frames,
            name=self.name,
            sequence_field=self.sequence_field,
            time_field=self.time_field,
            received=received,
            seqs=seqs,
            counters=counters,
            schema=dict(self._schema) if self._schema is not None else None,
            last_event=self._last_event,
            has_seq=self._store.has_seq,
            refuse=self._refused,
            parse=how.get("parse", parse_frame),
            key_of=how.get("key_of"),
            has_key=self._store.has_key,
            event_of=how.get("event_of"),
        )
        records, rows, sizes, schema = batch.records, batch.rows, batch.sizes, batch.schema
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
                self._last_event = batch.last_event
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
            raise StreamBusyError(
                self.display_url,
                f"stream {self.name!r} is already being consumed (its "
                f"store {path.with_suffix('.sqlite')} is locked); close that "
                "source or pick another name",
                self.name,
            ) from None
        return handle

    def _release(self) -> None:
        handle, self._lock_file = getattr(self, "_lock_file", None), None
        if handle is not None:
            handle.close()  # closing drops the flock

