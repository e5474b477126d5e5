"""A local WebSocket server replaying a table as a live stream (demos, tests, benchmarks).

Each row goes out as one JSON object with a sequence number (``seq``, from 0) and an event time
(``ts``, POSIX seconds taken when the message is sent) added to the row's own fields. A client
resumes at a sequence number with the query parameter ``?from=N``; with ``loop`` the table is
replayed forever (sequence numbers keep growing), otherwise the server closes the connection
(code 1000, "end of stream") after the last row. Test modes inject faults: garbage frames, skipped
sequence numbers, rows breaking the schema, connections closed (or cut mid-frame) after a
number of messages. Binds loopback addresses only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd

from hub_kernel.exceptions import StreamError

logger = logging.getLogger("hub_kernel")

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_GARBAGE: tuple[str | bytes, ...] = (
    "this is not JSON {",
    b"\x00\xff\xfe binary junk",
    "42",
    '{"truncated": ',
)


@dataclass
class ServerStats:
    """What the server did (read from tests): the ``from`` each connection asked for, and
    counts."""

    resumes: list[int | None] = field(default_factory=list)
    messages: int = 0
    rows: int = 0
    garbage: int = 0


def _records(frame: pd.DataFrame) -> list[str]:
    """Each row's fields as a JSON object body without braces (dates as ISO 8601 text)."""
    rows = json.loads(frame.to_json(orient="records", date_format="iso"))
    return [json.dumps(row, separators=(",", ":"))[1:-1] for row in rows]


class DemoStreamServer:
    """Replays ``frame`` (default: the bundled sample) over WebSocket at ``rate`` rows per second
    (``None`` or 0: as fast as possible).

    ``count`` ends the stream after that many sequence numbers (default: one pass of the table
    without ``loop``, endless with it). ``batch`` rows go in one message (a JSON list when > 1).
    Fault modes, each every N-th message or row (0 = off): ``garbage_every`` sends a frame that
    is not a JSON object; ``skip_every`` skips a sequence number; ``violate_every`` sends a row
    with a wrongly typed field and an extra key; ``close_after`` closes each connection after N
    messages, cleanly or (``abort_mid_frame``) by cutting the TCP connection half-way through a
    frame.
    """

    def __init__(
        self,
        frame: pd.DataFrame | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate: float | None = 20.0,
        loop: bool = True,
        count: int | None = None,
        batch: int = 1,
        seq_field: str = "seq",
        time_field: str = "ts",
        garbage_every: int = 0,
        skip_every: int = 0,
        violate_every: int = 0,
        close_after: int = 0,
        abort_mid_frame: bool = False,
    ) -> None:
        if host not in _LOOPBACK:
            raise StreamError(
                host,
                "the demo stream server binds loopback addresses only "
                "(127.0.0.1, ::1 or localhost)",
            )
        if frame is None:
            from hub_kernel.data.io import load_dataset

            frame = load_dataset(None)
        if frame.empty:
            raise StreamError("dataset", "has no rows to stream; pick a table with rows")
        self.host = host
        self.port = port
        self.rate = rate or None
        self.loop = loop
        self.count = count if count is not None else (None if loop else len(frame))
        self.batch = max(1, batch)
        self.seq_field = seq_field
        self.time_field = time_field
        self.garbage_every = garbage_every
        self.skip_every = skip_every
        self.violate_every = violate_every
        self.close_after = close_after
        self.abort_mid_frame = abort_mid_frame
        self.stats = ServerStats()
        self._records = _records(frame)
        self._numeric = next(
            (str(c) for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])), None
        )
        self._frame = frame
        self._thread: threading.Thread | None = None
        self._aloop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}/"

    # ---- running ----------------------------------------------------------------------------

    async def serve(
        self, stop_event: asyncio.Event | None = None, on_ready: Callable[[], None] | None = None
    ) -> None:
        """Serve until ``stop_event`` is set; ``on_ready()`` is called once listening (then
        ``self.port`` is the bound port)."""
        from websockets.asyncio.server import serve

        stop = stop_event or asyncio.Event()
        try:
            server = await serve(
                self._handle, self.host, self.port, compression=None, close_timeout=2
            )
        except OSError as exc:
            raise StreamError(
                f"{self.host}:{self.port}", f"cannot listen ({exc}); pick another port with --port"
            ) from exc
        async with server:
            self.port = server.sockets[0].getsockname()[1]
            logger.info("demo stream server on %s", self.url)
            if on_ready is not None:
                on_ready()
            await stop.wait()
            server.close(close_connections=True)

    def start(self, timeout: float = 10.0) -> DemoStreamServer:
        """Serve in a daemon thread with its own event loop; returns once listening."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._aloop, self._stop = loop, asyncio.Event()
            try:
                loop.run_until_complete(self.serve(self._stop, ready.set))
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                ready.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=main, name="hub-stream-server", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise StreamError(self.url, f"the demo stream server did not start in {timeout} s")
        if failure:
            raise failure[0]
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close every connection and stop serving."""
        loop, stop = self._aloop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> DemoStreamServer:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- one connection ---------------------------------------------------------------------

    def _resume_from(self, path: str) -> int | None:
        values = parse_qs(urlsplit(path).query).get("from")
        try:
            return max(0, int(values[0])) if values else None
        except ValueError:
            return None

    def _row(self, seq: int) -> str:
        body = self._records[seq % len(self._records)]
        head = f'"{self.seq_field}":{seq},"{self.time_field}":{time.time()!r}'
        if self.violate_every and seq % self.violate_every == self.violate_every - 1:
            row: dict[str, Any] = json.loads("{" + body + "}")
            row[self._numeric or "value"] = "not a number"
            row["unexpected"] = True
            body = json.dumps(row, separators=(",", ":"))[1:-1]
        return "{" + head + ("," + body if body else "") + "}"

    def _ended(self, seq: int) -> bool:
        return self.count is not None and seq >= self.count

    async def _handle(self, ws: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        start = self._resume_from(ws.request.path)
        self.stats.resumes.append(start)
        seq = start or 0
        sent = 0
        clock = asyncio.get_running_loop().time
        next_at = clock()
        try:
            while True:
                rows: list[str] = []
                while len(rows) < self.batch and not self._ended(seq):
                    if not (self.skip_every and seq % self.skip_every == self.skip_every - 1):
                        rows.append(self._row(seq))
                    seq += 1
                if not rows:
                    await ws.close(1000, "end of stream")
                    return
                message = rows[0] if self.batch == 1 else "[" + ",".join(rows) + "]"
                if self.close_after and sent >= self.close_after:
                    await self._hang_up(ws, message)
                    return
                await ws.send(message)
                sent += 1
                self.stats.messages += 1
                self.stats.rows += len(rows)
                if self.garbage_every and sent % self.garbage_every == 0:
                    await ws.send(_GARBAGE[self.stats.garbage % len(_GARBAGE)])
                    self.stats.garbage += 1
                if self.rate:
                    next_at = max(next_at + len(rows) / self.rate, clock() - 1.0)
                    delay = next_at - clock()
                    if delay > 0:
                        await asyncio.sleep(delay)
                elif sent % 256 == 0:
                    await asyncio.sleep(0)  # let other connections and the loop run
        except ConnectionClosed:
            return

    async def _hang_up(self, ws: Any, message: str) -> None:
        """End a connection in the test mode asked for."""
        if not self.abort_mid_frame:
            await ws.close(1011, "closing mid-stream (test mode)")
            return
        payload = message.encode()
        size = len(payload)
        if size < 126:
            header = bytes([0x81, size])
        elif size < 2**16:
            header = bytes([0x81, 126]) + size.to_bytes(2, "big")
        else:
            header = bytes([0x81, 127]) + size.to_bytes(8, "big")
        ws.transport.write(header + payload[: size // 2])  # half a text frame, then cut
        ws.transport.abort()
