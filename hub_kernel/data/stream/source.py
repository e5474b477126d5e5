"""``StreamSource``: a WebSocket client with a durable store, a rolling window and quality figures.

``StreamSource(url, name)`` connects with the ``websockets`` library and treats every text or
binary frame as JSON: one object (a row) or a list of objects (rows). A row counts as received
only once it is committed to the stream's store, a SQLite database in WAL mode at
``settings.streams_dir/<name>.sqlite`` (one transaction per batch of frames, ``synchronous=FULL``),
so a consumer killed at any moment loses no row it has reported. Rows carrying an integer
sequence number (``sequence_field``, default ``seq``) are keyed by it: resent rows are counted as
duplicates and not stored twice, skipped numbers are recorded as gaps, and a reconnecting source
asks the server to resume after the last stored number (``?from=<last + 1>``).

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
    StreamQuality,
    as_seq,
    check_row,
    event_time_seconds,
    json_type,
)
from hub_kernel.data.stream.store import StreamStore, read_store, store_path
from hub_kernel.exceptions import StreamError

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


class StreamSource:
    """A live stream of JSON rows over WebSocket, stored durably, with a rolling window.

    ``window_rows`` defaults to ``settings.stream_window_rows`` and the reconnect back-off cap
    to ``settings.stream_backoff_max_seconds``. ``time_field`` names the rows' event time
    (seconds since the epoch or ISO 8601); without it lag is measured from receive times.
    ``resume_param`` is the query parameter asking the server to resume at a sequence number
    (``None``: never ask). The state of an existing store (rows, last sequence number, gaps,
    counters, window) is reloaded on creation; only one source may use a store at a time.
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
    ) -> None:
        settings = get_settings()
        self.url = url
        self.name = name
        self.window_size = window_rows or settings.stream_window_rows
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
            count, seqs, window, meta, received = self._store.load(self.window_size)
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
        self._window: deque[Row] = deque(window, maxlen=self.window_size)
        fields = Counters.__dataclass_fields__
        self._counters = Counters(**{k: int(meta.get(k, 0)) for k in fields})
        self._schema: dict[str, str | None] | None = meta.get("schema")
        self._last_received = received or None
        self._last_event: float | None = None
        if time_field is not None:
            times = [event_time_seconds(r.get(time_field)) for r in window]
            self._last_event = max((t for t in times if t is not None), default=None)
        self._samples: deque[tuple[float, int]] = deque()  # (monotonic time, rows) per batch
        self._first_batch_at: float | None = None
        self._subscribers: list[RowsCallback] = []
        self._connected = False
        self._reconnects = 0
        self._last_error: str | None = None
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
            gaps = self._seqs.gaps or []
            c = self._counters
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
                gap_count=len(gaps),
                missing_seqs=sum(end - start + 1 for start, end in gaps),
                gaps=tuple((start, end) for start, end in gaps[-20:]),
                missing_fraction=c.missing_cells / c.expected_cells if c.expected_cells else 0.0,
                schema_violations=c.schema_violations,
                garbage_frames=c.garbage_frames,
                duplicates=c.duplicates,
                reconnects=self._reconnects,
                last_error=self._last_error,
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
                proxy=None if self._loopback else True,
            ) as ws:
                self._connected = True
                logger.info("stream %s: connected to %s", self.name, url)
                return await self._consume(ws, stop)
        except (TimeoutError, OSError, websockets.WebSocketException) as exc:
            self._last_error = f"{type(exc).__name__}: {exc}"
            logger.warning("stream %s: cannot connect to %s: %s", self.name, url, self._last_error)
            return 0
        finally:
            self._connected = False

    def _backoff(self, attempt: int) -> float:
        """Exponential back-off with "equal jitter", capped at ``backoff_max``."""
        ceiling = min(self.backoff_max, self.backoff_initial * 2 ** min(attempt, 30))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - not cryptographic

    def _resume_url(self) -> str:
        if self.resume_param is None or self._seqs.last is None:
            return self.url
        parts = urlsplit(self.url)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != self.resume_param]
        query.append((self.resume_param, str(self._seqs.last + 1)))
        return urlunsplit(parts._replace(query=urlencode(query)))

    async def _consume(self, ws: Any, stop: asyncio.Event) -> int:
        """Read frames and store them in batches until the connection ends; rows stored.

        A reader task queues frames; this loop commits whatever is queued as one batch, so
        batches grow when the store is slower than the network."""
        from websockets.exceptions import ConnectionClosed

        queue: asyncio.Queue[str | bytes | None] = asyncio.Queue(_MAX_PENDING)
        ending: list[str] = []

        async def read() -> None:
            try:
                async for frame in ws:
                    await queue.put(frame)
            except ConnectionClosed as exc:
                ending.append(f"connection lost: {exc}")
            finally:
                await queue.put(None)

        async def close_on_stop() -> None:
            await stop.wait()
            await ws.close()

        reader = asyncio.create_task(read())
        closer = asyncio.create_task(close_on_stop())
        stored = 0
        try:
            while True:
                frames = [await queue.get()]
                while len(frames) < _MAX_BATCH and not queue.empty():
                    frames.append(queue.get_nowait())
                done = frames[-1] is None
                stored += self._ingest([f for f in frames if f is not None])
                if done:
                    break
        finally:
            closer.cancel()
            reader.cancel()
            await asyncio.gather(reader, closer, return_exceptions=True)
        if not stop.is_set():
            self._last_error = (
                ending[0]
                if ending
                else (f"closed by the server: code {ws.close_code} {ws.close_reason or ''}".strip())
            )
            log = logger.warning if ending else logger.info
            log("stream %s: %s after %d new rows", self.name, self._last_error, stored)
        return stored

    # ---- turning frames into stored rows ----------------------------------------------------

    def _parse(self, frame: str | bytes) -> list[tuple[Row, str | None]] | None:
        """Rows of a frame, each with its JSON text when the frame is one object; ``None`` for
        garbage."""
        try:
            value = json.loads(frame)
        except (ValueError, UnicodeDecodeError):
            return None
        if isinstance(value, dict):
            text = frame if isinstance(frame, str) else frame.decode()
            return [(value, text)]
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):  # [] = no rows
            return [(v, None) for v in value]
        return None

    def _garbage(self, frame: str | bytes, count: int) -> None:
        if count <= _GARBAGE_LOGGED or count % 1000 == 0:
            shown = frame[:60]
            logger.warning(
                "stream %s: garbage frame #%d ignored (not a JSON object or list of objects): %r",
                self.name,
                count,
                shown,
            )

    def _ingest(self, frames: list[str | bytes]) -> int:
        """Store the rows of ``frames`` in one transaction, then publish them. Rows stored."""
        received = time.time()
        seqs = self._seqs.copy()
        counters = Counters(**vars(self._counters))
        schema = dict(self._schema) if self._schema is not None else None
        records: list[tuple[int | None, float, str]] = []
        rows: list[Row] = []
        last_event = self._last_event
        for frame in frames:
            parsed = self._parse(frame)
            if parsed is None:
                counters.garbage_frames += 1
                self._garbage(frame, counters.garbage_frames)
                continue
            for row, text in parsed:
                seq = as_seq(row.get(self.sequence_field)) if self.sequence_field else None
                if seq is not None:
                    if seqs.stored(seq):
                        counters.duplicates += 1
                        continue
                    seqs.add(seq)
                if schema is None:
                    schema = {k: json_type(v) for k, v in row.items()}
                violation, missing = check_row(row, schema)
                counters.schema_violations += violation
                counters.missing_cells += missing
                counters.expected_cells += len(schema)
                if self.time_field is not None:
                    event = event_time_seconds(row.get(self.time_field))
                    if event is not None and (last_event is None or event > last_event):
                        last_event = event
                records.append((seq, received, text if text is not None else json.dumps(row)))
                rows.append(row)
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
            self._window.extend(rows)
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
