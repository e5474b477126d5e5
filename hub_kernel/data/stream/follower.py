"""One consumer per store, every other user follows the store.

A stream's store (``store``) is written by one ``StreamSource`` at a time (an exclusive lock).
``shared_stream(url, name)`` starts that consumer when the store is free and otherwise a
``StreamFollower``: it reads the rows the consumer commits (the store is SQLite in WAL mode, so
reading beside a writer is safe) by polling for rows past the last one it saw, keeps the same
rolling window and calls ``on_rows``/``follow`` subscribers exactly as the consumer does, so a
live tile works the same. It never writes to the store.

A follower tries the lock again every ``takeover_seconds``; once the consumer is gone (its kernel
culled, its viewer left) it reads the consumer's last rows, becomes the consumer (a new
``StreamSource``, which resumes where the store ends: ``?from=`` for WebSocket, the pending
entries of the same Redis consumer name) and hands its subscribers over, so a tile goes on.

This is what Voila kernels of one dashboard need: each viewer (and each preheated kernel) opens
the same stream; one consumes, the others follow, and a Redis consumer group is not split
between kernels (each would see only part of the entries).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

import pandas as pd

from hub_kernel.core.config import get_settings
from hub_kernel.core.redact import redact_url
from hub_kernel.data.stream.quality import (
    Counters,
    Row,
    SeqState,
    StreamQuality,
    event_time_seconds,
)
from hub_kernel.data.stream.source import RowsCallback, StreamSource
from hub_kernel.data.stream.store import StreamStore, read_store, store_path
from hub_kernel.exceptions import StreamBusyError, StreamError

logger = logging.getLogger("hub_kernel")

_BATCH = 5_000  # rows read per query


def shared_stream(url: str, name: str | None = None, **options: Any
                  ) -> StreamSource | StreamFollower:
    """A started consumer of ``url`` (a ``StreamSource``) or, when another process already
    consumes into the store of ``name``, a started ``StreamFollower`` of that store.

    ``options`` are ``StreamSource``'s keywords; a follower also takes ``poll_seconds`` and
    ``takeover_seconds``."""
    poll = options.pop("poll_seconds", 0.3)
    takeover = options.pop("takeover_seconds", 2.0)
    try:
        return StreamSource(url, name, **options).start()
    except StreamBusyError as busy:
        logger.info("stream %s: %s; following its store", busy.name, busy)
        return StreamFollower(url, busy.name, poll_seconds=poll, takeover_seconds=takeover,
                              **options).start()


class StreamFollower:
    """Follows the store of stream ``name`` that another process consumes (see the module).

    The API is ``StreamSource``'s: ``on_rows``, ``follow``, ``window``, ``window_records``,
    ``quality``, ``read_all``, ``start``, ``stop``, ``close``. ``consumer`` is the
    ``StreamSource`` it became after a takeover, else ``None``."""

    def __init__(self, url: str, name: str, *, poll_seconds: float = 0.3,
                 takeover_seconds: float = 2.0, **options: Any) -> None:
        settings = get_settings()
        self.url = url
        self.display_url = redact_url(url)
        self.name = name
        self._options = dict(options)
        self.window_size: int = options.get("window_rows") or settings.stream_window_rows
        self.window_max_bytes: int = options.get("window_bytes") or settings.stream_window_bytes
        self.time_field: str | None = options.get("time_field")
        self.sequence_field: str | None = options.get("sequence_field", "auto")
        if self.sequence_field == "auto":
            redis = url.split(":", 1)[0] in ("redis", "rediss")
            self.sequence_field = None if redis else "seq"
        self.rate_interval: float = options.get("rate_interval", 5.0)
        self.poll_seconds = poll_seconds
        self.takeover_seconds = takeover_seconds
        self.store_path = store_path(name, options.get("store_dir"))
        self.consumer: StreamSource | None = None
        self._guard = threading.Lock()
        self._subscribers: list[RowsCallback] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._db = self._open()
        try:
            self._load()
        except (sqlite3.Error, ValueError) as exc:
            self._db.close()
            raise StreamError(self.store_path, f"cannot read the stream store ({exc})") from exc

    def _open(self) -> sqlite3.Connection:
        deadline = time.monotonic() + 5.0  # the consumer creates it just after taking the lock
        while not self.store_path.is_file():
            if time.monotonic() > deadline:
                raise StreamError(self.store_path, "no such stream store to follow")
            time.sleep(0.05)
        try:
            db = sqlite3.connect(f"file:{self.store_path}?mode=ro", uri=True,
                                 isolation_level=None, check_same_thread=False, timeout=5.0)
        except sqlite3.Error as exc:
            raise StreamError(self.store_path, f"cannot read the stream store ({exc})") from exc
        return db

    def _load(self) -> None:
        """The store's state and the newest row id, from one snapshot (no row missed or twice)."""
        db = self._db
        db.execute("BEGIN")
        try:
            count, seqs, window, meta, received = StreamStore.reading(self.store_path, db).load(
                self.window_size, self.window_max_bytes, 1_000)
            self._last_id = db.execute("SELECT COALESCE(MAX(id), 0) FROM rows").fetchone()[0]
        finally:
            db.execute("COMMIT")
        self._rows_stored = count
        self._rows_seen = 0
        self._seqs: SeqState = seqs
        self._window: deque[Row] = deque(row for row, _ in window)
        self._window_sizes: deque[int] = deque(size for _, size in window)
        self._window_bytes = sum(self._window_sizes)
        self._counters = Counters(**{k: int(meta.get(k, 0)) for k in Counters.__dataclass_fields__})
        self._last_received: float | None = received or None
        self._last_event: float | None = None
        if self.time_field is not None:
            times = [event_time_seconds(r.get(self.time_field)) for r, _ in window]
            self._last_event = max((t for t in times if t is not None), default=None)
        self._samples: deque[tuple[float, int]] = deque()
        self._first_batch_at: float | None = None
        self._last_error: str | None = None

    # ---- StreamSource's API -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return (self._thread is not None and self._thread.is_alive()) or (
            self.consumer is not None and self.consumer.running)

    @property
    def following(self) -> bool:
        """True while another process consumes; False once this follower took over."""
        return self.consumer is None

    @property
    def last_seq(self) -> int | None:
        return self.consumer.last_seq if self.consumer is not None else self._seqs.last

    def on_rows(self, callback: RowsCallback) -> Callable[[], None]:
        """Call ``callback(rows)`` (in the follower's thread) for each batch of new rows."""
        with self._guard:
            if self.consumer is not None:
                return self.consumer.on_rows(callback)
            self._subscribers.append(callback)
        return self._unsubscriber(callback)

    def follow(self, callback: RowsCallback) -> tuple[list[Row], Callable[[], None]]:
        """The window now and a subscription to every later row, taken atomically."""
        with self._guard:
            if self.consumer is not None:
                return self.consumer.follow(callback)
            window = list(self._window)
            self._subscribers.append(callback)
        return window, self._unsubscriber(callback)

    def _unsubscriber(self, callback: RowsCallback) -> Callable[[], None]:
        def unsubscribe() -> None:
            with self._guard:
                with contextlib.suppress(ValueError):
                    self._subscribers.remove(callback)
                consumer = self.consumer
            if consumer is not None:  # handed over at the takeover
                consumer._unsubscriber(callback)()

        return unsubscribe

    def window(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.window_records())

    def window_records(self) -> list[Row]:
        with self._guard:
            if self.consumer is not None:
                return self.consumer.window_records()
            return list(self._window)

    def read_all(self) -> pd.DataFrame:
        return read_store(self.name, self.store_path.parent)

    def quality(self) -> StreamQuality:
        """The stream's figures as the store shows them. Connection state, reconnects, the
        read buffer and the last error belong to the other process and are not known here."""
        with self._guard:
            consumer = self.consumer
        if consumer is not None:
            return consumer.quality()
        now_wall, now = time.time(), time.monotonic()
        with self._guard:
            while self._samples and self._samples[0][0] < now - self.rate_interval:
                self._samples.popleft()
            recent = sum(n for _, n in self._samples)
            span = 0.0 if self._first_batch_at is None else now - self._first_batch_at
            rate = recent / max(min(self.rate_interval, span), 1.0) if recent else 0.0
            basis: Literal["event", "receive"] = "event" if self._last_event else "receive"
            newest = self._last_event or self._last_received
            c, seqs = self._counters, self._seqs
            return StreamQuality(
                name=self.name, connected=False, following=True,
                rows_stored=self._rows_stored, rows_received=self._rows_seen,
                window_rows=len(self._window), rate=rate,
                lag_seconds=None if newest is None else max(0.0, now_wall - newest),
                lag_basis=basis, last_seq=seqs.last, gap_count=seqs.gap_count,
                missing_seqs=seqs.missing, gaps=seqs.recent_gaps(20),
                missing_fraction=c.missing_cells / c.expected_cells if c.expected_cells else 0.0,
                schema_violations=c.schema_violations, garbage_frames=c.garbage_frames,
                duplicates=c.duplicates, reconnects=0, last_error=self._last_error,
                rejected_rows=c.rejected_rows, window_bytes=self._window_bytes,
                window_max_bytes=self.window_max_bytes,
            )

    def start(self) -> StreamFollower:
        """Follow in a daemon thread (safe inside a Jupyter kernel)."""
        if self._closed:
            raise StreamError(self.display_url, f"stream {self.name!r} was closed")
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._main, daemon=True,
                                            name=f"hub-follow-{self.name}")
            self._thread.start()
            atexit.register(self.close)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop following (and consuming, after a takeover) and wait for the thread."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if self.consumer is not None:
            self.consumer.stop(timeout)

    def close(self) -> None:
        """Stop and close the store (and the consumer it became, releasing the store)."""
        if self._closed:
            return
        self.stop()
        self._closed = True
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        if self.consumer is not None:
            self.consumer.close()
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)

    def __enter__(self) -> StreamFollower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        role = "following" if self.consumer is None else "consuming"
        return f"StreamFollower({self.display_url!r}, {self.name!r}, {role})"

    # ---- the follower's thread ----------------------------------------------------------------

    def _main(self) -> None:
        next_try = time.monotonic() + self.takeover_seconds
        while not self._stop.is_set():
            try:
                self._poll()
                if time.monotonic() >= next_try:
                    next_try = time.monotonic() + self.takeover_seconds
                    if self._take_over():
                        return
            except Exception as exc:  # a busy or odd store must not end the follower
                self._last_error = f"stream {self.name!r}: cannot follow the store ({exc})"
                logger.warning("%s", self._last_error)
            self._stop.wait(self.poll_seconds)

    def _poll(self) -> int:
        """Publish the rows committed since the last poll. Rows read."""
        total = 0
        while True:
            batch = self._db.execute(
                "SELECT id, seq, received, data FROM rows WHERE id > ? ORDER BY id LIMIT ?",
                (self._last_id, _BATCH)).fetchall()
            meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
            if not batch:
                self._set_counters(meta)
                return total
            self._publish(batch, meta)
            total += len(batch)
            if len(batch) < _BATCH:
                return total

    def _set_counters(self, meta: dict[str, str]) -> None:
        fields = Counters.__dataclass_fields__
        counters = Counters(**{k: int(json.loads(meta.get(k, "0"))) for k in fields})
        with self._guard:
            self._counters = counters

    def _publish(self, batch: list[tuple[int, int | None, float, str]],
                 meta: dict[str, str]) -> None:
        rows = [json.loads(data) for _, _, _, data in batch]
        sizes = [len(data) for _, _, _, data in batch]
        now = time.monotonic()
        self._set_counters(meta)
        with self._guard:
            for _, seq, _, _ in batch:  # a new row of the store: its seq was not stored
                if seq is not None:
                    self._seqs.add(seq, self._has_seq)
            self._last_id = batch[-1][0]
            self._extend_window(rows, sizes)
            self._rows_stored += len(rows)
            self._rows_seen += len(rows)
            self._last_received = batch[-1][2]
            if self.time_field is not None:
                times = [event_time_seconds(r.get(self.time_field)) for r in rows]
                self._last_event = max([t for t in times if t is not None]
                                       + ([self._last_event] if self._last_event else []),
                                       default=None)
            self._samples.append((now, len(rows)))
            if self._first_batch_at is None:
                self._first_batch_at = now
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(rows)
            except Exception:
                logger.exception("stream %s: a rows subscriber failed", self.name)

    def _has_seq(self, seq: int) -> bool:
        return self._db.execute("SELECT 1 FROM rows WHERE seq = ?", (seq,)).fetchone() is not None

    def _extend_window(self, rows: list[Row], sizes: list[int]) -> None:
        window, held = self._window, self._window_sizes
        for row, size in zip(rows, sizes, strict=True):
            window.append(row)
            held.append(size)
            self._window_bytes += size
            while window and (len(window) > self.window_size
                              or self._window_bytes > self.window_max_bytes):
                window.popleft()
                self._window_bytes -= held.popleft()

    def _take_over(self) -> bool:
        """Become the consumer if the store is free. True once it did."""
        try:
            consumer = StreamSource(self.url, self.name, **self._options)
        except StreamBusyError:
            return False
        # the old consumer is gone and the new one not started: the store is still; publish
        # its last rows, then hand the subscribers over before the consumer's first batch
        self._poll()
        with self._guard:
            for callback in self._subscribers:
                consumer.on_rows(callback)
            self._subscribers.clear()
            self.consumer = consumer
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        if self._stop.is_set():  # stopped meanwhile: close() releases the store
            return True
        logger.info("stream %s: the consumer is gone; this process consumes now", self.name)
        consumer.start()
        return True

