"""The client side of a ``StreamSource``: the reconnect loop of every transport (capped, jittered
back-off) and the WebSocket transport: connect, resume after the last stored number
(``?from=<last+1>``, or past a frame over the size cap), and read frames into the bounded buffer
(``frames.PendingFrames``) whose batches the source stores.

``StreamClient`` is mixed into ``source.StreamSource``; it reads the source's state, declared
below. ``run`` calls the source's transport (``transports``) for each connection;
``WebSocketTransport`` is the one of ``ws://`` and ``wss://`` URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from hub_kernel.core.redact import redact_text, redact_url, secrets_of
from hub_kernel.data.stream.frames import PendingFrames
from hub_kernel.data.stream.quality import Counters, SeqState
from hub_kernel.exceptions import StreamError

if TYPE_CHECKING:
    from hub_kernel.data.stream.store import StreamStore
    from hub_kernel.data.stream.transports import Transport

logger = logging.getLogger("hub_kernel")

_MAX_BATCH = 5_000  # frames committed in one transaction at most
_MAX_PENDING = 10_000  # frames read but not yet committed (then TCP back-pressure)


class StreamClient:
    """The client loop of a stream source. Mixed into ``StreamSource``, whose state it reads
    and whose ``_ingest`` stores each batch of frames."""

    # the source's state (set by ``StreamSource.__init__``)
    url: str
    display_url: str  # the URL without credentials: for messages and logs
    name: str
    resume_param: str | None
    backoff_initial: float
    backoff_max: float
    open_timeout: float
    max_message_bytes: int
    buffer_max_bytes: int
    _loopback: bool
    _store: StreamStore
    _guard: threading.Lock
    _seqs: SeqState
    _counters: Counters
    _schema: dict[str, str | None] | None
    _running: bool
    _closed: bool
    _connected: bool
    _reconnects: int
    _last_error: str | None
    _pending: PendingFrames | None
    _buffer_peak: int
    _too_big_at: int | None
    _resume_at: int | None
    _transport: Transport

    def _ingest(self, frames: list[Any], **how: Any) -> int:
        raise NotImplementedError

    def _refused(self, frame: Any, counters: Counters, reason: str) -> None:
        raise NotImplementedError

    async def run(self, stop_event: asyncio.Event | None = None) -> None:
        """Consume until ``stop_event`` is set, reconnecting with capped, jittered back-off.

        Raises ``StreamError`` when the store cannot be written (nothing else stops it)."""
        if self._running:
            raise StreamError(self.display_url, f"stream {self.name!r} is already running")
        if self._closed:
            raise StreamError(
                self.display_url, f"stream {self.name!r} was closed; create a new source"
            )
        stop = stop_event or asyncio.Event()
        self._running = True
        attempt = 0
        try:
            while not stop.is_set():
                session = asyncio.create_task(self._transport.session(stop))
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
        """One WebSocket connection: connect, consume until it ends; rows stored."""
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
                logger.info("stream %s: connected to %s", self.name, redact_url(url))
                return await self._consume(ws, stop)
        except (TimeoutError, OSError, websockets.WebSocketException) as exc:
            self._last_error = redact_text(f"{type(exc).__name__}: {exc}", secrets_of(url))
            logger.warning("stream %s: cannot connect to %s: %s", self.name, redact_url(url),
                           self._last_error)
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

        pending = PendingFrames(_MAX_PENDING, self.buffer_max_bytes)
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


class WebSocketTransport:
    """The transport of ``ws://`` and ``wss://`` URLs: ``StreamClient``'s WebSocket session."""

    def __init__(self, source: StreamClient, options: dict[str, Any]) -> None:
        parts = urlsplit(source.url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise StreamError(source.display_url,
                              "not a WebSocket URL; use ws://host:port/path or wss://...")
        if options:
            raise StreamError(
                source.display_url,
                f"{', '.join(sorted(options))} is for redis:// streams, not WebSocket ones",
            )
        self.source = source

    def session(self, stop: asyncio.Event) -> Any:
        return self.source._session(stop)

    def default_name(self) -> str | None:
        return None
