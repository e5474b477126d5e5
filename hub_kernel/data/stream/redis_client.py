"""Redis Streams as a live source: ``StreamSource("redis://HOST/STREAM", group=...)``.

URL: ``redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]/STREAM[?group=G&consumer=C&start=0]`` or
``rediss://`` (TLS). One path segment is the stream key (database 0); two are the database
number and the key. The key is percent-decoded (``my%2Fstream`` is ``my/stream``). Query
parameters: ``group`` (default ``hub``), ``consumer`` and ``start`` (as the keywords of the same
names, which win over them), ``claim_idle`` (below), and redis-py's own connection options
(``socket_timeout``, ``ssl_cert_reqs``, ``ssl_ca_certs``...); anything else is an error. The
password is never shown: errors, logs, the quality line and ``repr`` carry the URL redacted
(``***@host``).

Consumer group: created when missing (``XGROUP CREATE key group <start> MKSTREAM``) with
``start="0"`` (the default: a new group reads the stream from its first entry) or ``start="$"``
(only entries added after the group is made). An existing group keeps its own position. The
consumer (default ``<hostname>-<store name>``: stable across restarts, so a restarted process
finds its own pending entries) first re-reads its pending entries (``XREADGROUP ... 0``, entries
read before a kill or a lost connection but not acknowledged), then new ones (``>``).
With ``?claim_idle=SECONDS`` it also takes over entries pending that long with other consumers
of the group (``XAUTOCLAIM``; a consumer that died for good, e.g. on a host that was renamed),
when it starts and then every ``SECONDS``; off by default, since an entry taken from a consumer
that is merely slow would be stored by both.

Exactly once: each batch of entries is committed to the store in one transaction, keyed by the
entry id (the store's unique ``key``), and only then acknowledged (``XACK``). An entry stored but
not acknowledged when the consumer died is delivered again, found by its id and counted as a
duplicate, not stored twice, and acknowledged.

Entry to row: an entry whose only field is ``json`` holds the row as a JSON object (UTF-8).
Any other entry's fields are the row: each value is UTF-8 text, turned into a number, ``true``,
``false`` or ``null`` when it is exactly that JSON text (``"3.5"`` -> 3.5, ``"007"`` stays
text). An entry that cannot be a row (not UTF-8, not JSON, not one object, larger than
``max_message_bytes``, or deleted from the stream before it was read back) is counted as a
garbage frame, acknowledged (it would block the group otherwise) and the stream goes on.

Lag: without a ``time_field`` the quality line's lag is measured from the time of the newest
stored entry's id (when the producer added it), not from when it was read.

A lost connection (the server restarted, the network cut) ends the session; the source
reconnects with its usual back-off and resumes with its pending entries: nothing is lost.
Memory: at most 500 entries are read at once, fewer when entries are large (about
``buffer_bytes`` per read at the mean entry size seen); Redis cannot cap one entry's size before
it is read, so an entry larger than ``max_message_bytes`` is read whole once, then refused.
Requires redis-py (``pip install 'hub[redis]'``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import socket
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

import pandas as pd

from hub_kernel.core.redact import redact_text, redact_url, secrets_of
from hub_kernel.data.stream.frames import parse_frame
from hub_kernel.data.stream.quality import Row
from hub_kernel.exceptions import StreamError, StreamFrameError

if TYPE_CHECKING:
    from hub_kernel.data.stream.client import StreamClient

logger = logging.getLogger("hub_kernel")

DEFAULT_GROUP = "hub"
_COUNT = 500  # entries read (and committed) at once at most
_BLOCK_MS = 500  # how long a read waits for new entries: how soon a stop is noticed
_STARTS = ("0", "$")
_OWN_PARAMS = ("group", "consumer", "start", "claim_idle")
# redis-py connection options a URL may carry (``redis.asyncio.connection.parse_url``)
_CONNECTION_PARAMS = re.compile(
    r"socket_timeout|socket_connect_timeout|socket_keepalive|health_check_interval|"
    r"ssl_[a-z_]+|protocol|client_name"
)
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_LITERALS: dict[str, object] = {"true": True, "false": False, "null": None}
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


def _redis_module() -> Any:
    try:
        import redis.asyncio
    except ImportError:
        raise StreamError(
            "redis://", "Redis streams need redis-py: pip install 'hub[redis]'"
        ) from None
    return redis


class RedisEntry:
    """One entry read from a Redis stream: its id and fields (bytes), and their size."""

    __slots__ = ("fields", "id", "size")

    def __init__(self, entry_id: bytes | str, fields: Mapping[bytes, bytes] | None) -> None:
        self.id = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        self.fields = dict(fields or {})
        self.size = sum(len(k) + len(v) for k, v in self.fields.items())

    def __repr__(self) -> str:  # logged for garbage entries: short, whatever the entry holds
        names = ", ".join(repr(k)[:20] for k in list(self.fields)[:5])
        return f"<entry {self.id}: {len(self.fields)} fields ({names}), {self.size:,} bytes>"


def entry_key(entry: RedisEntry) -> str:
    """The store key of an entry: its id."""
    return entry.id


def entry_time(entry: RedisEntry) -> float | None:
    """When the entry was added (seconds): the milliseconds of its id, unless the producer
    chose its ids (an id below 1e11 ms, before 1973, is taken as not a time)."""
    head = entry.id.partition("-")[0]
    if not head.isdigit() or int(head) < 1e11:
        return None
    return int(head) / 1000.0


def _scalar(text: str) -> object:
    """A flat field's value: a number, true, false or null when it is exactly that JSON text."""
    if text in _LITERALS:
        return _LITERALS[text]
    if _NUMBER.fullmatch(text):
        value = json.loads(text)
        if isinstance(value, float) and not math.isfinite(value):
            return text  # 1e999: kept as written
        return value
    return text


def entry_rows(entry: RedisEntry, name: str, max_bytes: int) -> list[tuple[object, str | None]]:
    """The row of one entry with its JSON text (the module's rule); ``StreamFrameError`` naming
    the problem when the entry cannot be a row."""
    if not entry.fields:
        raise StreamFrameError(
            name, f"entry {entry.id} was deleted from the stream (XDEL or a trim) before it "
            "was stored")
    if entry.size > max_bytes:
        raise StreamFrameError(
            name, f"entry {entry.id} holds {entry.size:,} bytes, more than max_message_bytes "
            f"({max_bytes:,}); raise max_message_bytes to keep such entries")
    if list(entry.fields) == [b"json"]:
        items = parse_frame(entry.fields[b"json"], name)
        if len(items) != 1 or items[0][1] is None:
            raise StreamFrameError(
                name, f"entry {entry.id}: the field 'json' must hold one JSON object (a row), "
                "not an array")
        return items
    row: Row = {}
    for key, value in entry.fields.items():
        try:
            field = key.decode("utf-8")
            text = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StreamFrameError(
                name, f"entry {entry.id}: a field name or value is not UTF-8 ({exc.reason} at "
                f"byte {exc.start})") from None
        row[field] = _scalar(text)
    return [(row, json.dumps(row))]


def split_url(url: str) -> tuple[str, str, int, dict[str, str]]:
    """(redis-py's URL, stream key, database, hub's own query parameters) of a ``redis://`` or
    ``rediss://`` stream URL (the module docstring's form); ``StreamError`` naming the problem,
    with the URL redacted, when it is not one, or when redis-py is missing."""
    shown, secrets = redact_url(url), secrets_of(url)
    parts = urlsplit(url)
    hint = ""
    if "@" not in parts.netloc and "@" in url.partition("://")[2]:  # a password cut short
        hint = "; a password holding '/', '?' or '#' must be percent-encoded (%2F, %3F, %23)"
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise StreamError(
            shown, "not a Redis stream URL; use redis://HOST[:PORT][/DB]/STREAM" + hint)
    try:
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError:
        raise StreamError(shown, "the port is not a number" + hint) from None
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) == 1:
        db, key = 0, segments[0]
    elif len(segments) == 2 and segments[0].isdigit():
        db, key = int(segments[0]), segments[1]
    else:
        raise StreamError(shown, "the path must be /STREAM or /DB/STREAM (DB a number), "
                          "e.g. redis://localhost:6379/0/events")
    own: dict[str, str] = {}
    connection: list[str] = []
    for param, value in parse_qsl(parts.query, keep_blank_values=True):
        if param in _OWN_PARAMS:
            own[param] = value
        elif _CONNECTION_PARAMS.fullmatch(param):
            connection.append(f"{param}={quote(value)}")
        else:
            raise StreamError(
                shown, f"unknown query parameter {param!r}; a redis:// stream takes group, "
                "consumer, start, claim_idle and redis-py's connection options")
    redis = _redis_module()
    connect_url = urlunsplit(  # redis-py's form: the database as the path
        (parts.scheme, parts.netloc, f"/{db}", "&".join(connection), ""))
    try:  # redis-py's own checks of its options, now rather than at each connection
        redis.asyncio.connection.parse_url(connect_url)
    except ValueError as exc:
        raise StreamError(shown, redact_text(str(exc), secrets)) from None
    return connect_url, unquote(key), db, own


class RedisTransport:
    """The transport of ``redis://`` and ``rediss://`` URLs (the module docstring says how)."""

    # rows are identified by their entry ids; a row's own ``seq`` is data unless the source is
    # given ``sequence_field="seq"`` (a producer whose numbering restarts would lose rows)
    sequence_field: str | None = None

    def __init__(self, source: StreamClient, options: dict[str, Any]) -> None:
        self.source = source
        shown = source.display_url
        self._secrets = secrets_of(source.url)
        self._connect_url, self.key, self.db, query = split_url(source.url)
        own = {param: query.pop(param, "") for param in _OWN_PARAMS}
        self.group = str(options.get("group") or own["group"] or DEFAULT_GROUP)
        self.consumer = str(options.get("consumer") or own["consumer"]) or None
        self.start = str(options.get("start") or own["start"] or "0")
        claim = own["claim_idle"]
        try:
            self.claim_idle = float(claim) if claim else None
        except ValueError:
            self.claim_idle = -1.0
        if self.claim_idle is not None and not 0 < self.claim_idle < 1e6:
            raise StreamError(shown, f"claim_idle={claim!r}: give the seconds an entry must have "
                              "been pending with another consumer before this one takes it")
        if self.start not in _STARTS:
            raise StreamError(shown, f"start={self.start!r}: a new group starts at '0' (the "
                              "stream's first entry) or '$' (entries added from now on)")
        self._stored = 0  # rows stored in the current session
        self._mean_size = 0.0  # bytes per entry, a moving mean

    def default_name(self) -> str | None:
        """The stream key, as a store name (characters a name may not hold become ``_``; a
        name starts with a letter or digit)."""
        return _NAME_CHARS.sub("_", self.key).lstrip("._-")[:128] or None

    @property
    def consumer_name(self) -> str:
        return self.consumer or f"{socket.gethostname()}-{self.source.name}"

    def _shown(self, exc: BaseException) -> str:
        return redact_text(f"{type(exc).__name__}: {exc}", self._secrets)

    async def session(self, stop: asyncio.Event) -> int:
        """One connection: make the group if missing, read pending then new entries, store
        and acknowledge them until the connection fails or ``stop`` is set; rows stored."""
        redis = _redis_module()
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        source = self.source
        timeout = source.open_timeout
        self._stored = 0
        self._mean_size = 0.0
        client = None
        try:
            client = redis.asyncio.Redis.from_url(
                self._connect_url,
                socket_connect_timeout=timeout,
                socket_timeout=timeout + _BLOCK_MS / 1000,
                retry=Retry(NoBackoff(), 0),  # the source's own back-off; a fresh pending read
                single_connection_client=True,
            )
            await client.ping()
            await self._ensure_group(client, redis)
            source._connected = True
            logger.info("stream %s: reading %s as %s/%s", source.name, source.display_url,
                        self.group, self.consumer_name)
            await self._consume(client, stop)
        except (redis.RedisError, OSError, TimeoutError) as exc:
            source._last_error = self._shown(exc)
            logger.warning("stream %s: %s after %d new rows", source.name, source._last_error,
                           self._stored)
        except StreamError:
            raise  # the store cannot be written: stop
        except Exception as exc:  # a bug must not kill the consumer: log it, reconnect
            source._last_error = f"stream {source.name!r}: unexpected {self._shown(exc)}"
            logger.error("stream %s: unexpected failure; reconnecting: %s", source.name,
                         source._last_error)
        finally:
            source._connected = False
            if client is not None:
                with contextlib.suppress(Exception):  # the connection is gone either way
                    await client.aclose()
        return self._stored

    async def _ensure_group(self, client: Any, redis: Any) -> None:
        try:
            await client.xgroup_create(self.key, self.group, id=self.start, mkstream=True)
            logger.info("stream %s: created group %s at %s", self.source.name, self.group,
                        self.start)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _consume(self, client: Any, stop: asyncio.Event) -> None:
        """This consumer's pending entries first (``0``, then after the last one read), then
        new ones (``>``), each batch stored and then acknowledged."""
        after: str | None = "0"
        claim_at = time.monotonic()  # when to take over others' idle entries next
        while not stop.is_set():
            if after is None and self.claim_idle is not None and time.monotonic() >= claim_at:
                await self._claim(client, stop)
                claim_at = time.monotonic() + self.claim_idle
            reply = await client.xreadgroup(
                self.group, self.consumer_name, {self.key: after or ">"}, count=self._count(),
                block=None if after else _BLOCK_MS,
            )
            entries = _entries(reply)
            if after is not None:
                if not entries:
                    after = None  # pending entries done: new ones from here on
                    continue
                after = entries[-1].id
            if entries:
                await self._store(client, entries)

    async def _claim(self, client: Any, stop: asyncio.Event) -> None:
        """Take over and store the entries pending for ``claim_idle`` seconds with others."""
        assert self.claim_idle is not None
        cursor: Any = "0-0"
        while not stop.is_set():
            reply = await client.xautoclaim(
                self.key, self.group, self.consumer_name, int(self.claim_idle * 1000),
                start_id=cursor, count=self._count())
            cursor = reply[0]
            entries = [RedisEntry(i, f) for i, f in reply[1] if i is not None]
            if entries:
                logger.info("stream %s: took over %d entries idle for %g s or more",
                            self.source.name, len(entries), self.claim_idle)
                await self._store(client, entries)
            if cursor in (b"0-0", "0-0"):
                return

    def _count(self) -> int:
        """Entries to read at once: up to ``_COUNT``, fewer when entries are large, so that a
        batch of entries of the mean size seen holds about ``buffer_bytes``."""
        room = self.source.buffer_max_bytes // max(1, int(self._mean_size))
        return max(1, min(_COUNT, room))

    async def _store(self, client: Any, entries: list[RedisEntry]) -> None:
        source = self.source
        max_bytes = source.max_message_bytes

        def parse(entry: RedisEntry, name: str) -> list[tuple[object, str | None]]:
            return entry_rows(entry, name, max_bytes)

        size = sum(e.size for e in entries)
        source._buffer_peak = max(source._buffer_peak, size)
        mean = size / len(entries)
        self._mean_size = 0.8 * self._mean_size + 0.2 * mean if self._mean_size else mean
        self._stored += source._ingest(entries, parse=parse, key_of=entry_key,
                                       event_of=entry_time)
        await client.xack(self.key, self.group, *[e.id for e in entries])  # after the commit


def _entries(reply: Any) -> list[RedisEntry]:
    """The entries of an XREADGROUP reply on one stream (RESP2 list or RESP3 map)."""
    if not reply:
        return []
    pairs = reply.values() if isinstance(reply, dict) else (r[1] for r in reply)
    out: list[RedisEntry] = []
    for stream_entries in pairs:
        if stream_entries and isinstance(stream_entries[0], list):  # RESP3: [[entries]]
            stream_entries = stream_entries[0]
        out.extend(RedisEntry(i, f) for i, f in stream_entries if i is not None)
    return out


async def replay(url: str, frame: pd.DataFrame, *, rate: float | None = 20.0,
                 count: int | None = None, loop: bool = True,
                 maxlen: int | None = 100_000) -> int:
    """Add the rows of ``frame`` to the stream of ``url`` (for demos and tests), one entry per
    row whose field ``json`` holds the row with ``seq`` and ``ts`` (the time it was added), at
    ``rate`` rows per second (``None`` or 0: as fast as possible), ``count`` rows
    (default: one pass of the table, or endless with ``loop``), trimming the stream to about
    ``maxlen`` entries. Returns the entries added.

    ``seq`` goes on after the newest entry's (0 on an empty stream): a replay started again
    adds rows a consumer stores, not numbers it already holds (duplicates)."""
    connect_url, key, _db, _own = split_url(url)
    redis = _redis_module()
    rows = json.loads(frame.to_json(orient="records", date_format="iso"))
    if not rows:
        raise StreamError(redact_url(url), "the table to replay has no rows")
    total = count if count is not None else (None if loop else len(rows))
    batch = 1 if rate else _COUNT
    added = 0
    client = redis.asyncio.Redis.from_url(connect_url, socket_connect_timeout=10)
    try:
        first = _next_seq(await client.xrevrange(key, count=1))
        while total is None or added < total:
            size = batch if total is None else min(batch, total - added)
            async with client.pipeline(transaction=False) as pipe:
                for n in range(added, added + size):
                    row = {"seq": first + n, "ts": time.time(), **rows[n % len(rows)]}
                    pipe.xadd(key, {"json": json.dumps(row)}, maxlen=maxlen, approximate=True)
                await pipe.execute()
            added += size
            if rate:
                await asyncio.sleep(1 / rate)
    except (redis.RedisError, OSError) as exc:
        raise StreamError(redact_url(url), redact_text(f"cannot add entries: {exc}",
                                                       secrets_of(url))) from None
    finally:
        await client.aclose()
    return added


def _next_seq(newest: Any) -> int:
    """The ``seq`` after the one of the newest entry (``XREVRANGE ... COUNT 1``); 0 when the
    stream is empty or its newest entry carries no integer ``seq``."""
    try:
        fields = newest[0][1]
        value = json.loads(fields[b"json"])["seq"] if b"json" in fields else fields[b"seq"]
        seq = int(json.loads(value) if isinstance(value, bytes) else value)
    except (IndexError, KeyError, TypeError, ValueError):
        return 0
    return seq + 1 if seq >= 0 else 0
