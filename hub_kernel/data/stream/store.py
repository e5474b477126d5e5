"""The durable store of one stream: rows keyed by sequence number and, for sources whose
messages carry their own ids (a Redis Streams entry id), by that id (``key``), in SQLite (WAL).

One transaction per batch of frames, ``synchronous=FULL``: a commit is on disk when it returns,
so a consumer killed at any moment loses no row it has reported.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import re
import shutil
import sqlite3
import tempfile
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from hub_kernel.core.config import get_settings
from hub_kernel.core.sqlite import connect, connect_readonly
from hub_kernel.data.stream.quality import Row, SeqState
from hub_kernel.exceptions import HubError, StreamError

#: a stored row: (seq, receive time, JSON text) or with the message's own id, (..., key)
Record = tuple[int | None, float, str] | tuple[int | None, float, str, str | None]
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")  # whole name: fullmatch
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, seq INTEGER UNIQUE, "
    "received REAL NOT NULL, data TEXT NOT NULL, key TEXT);"
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
)


class StreamStore:
    """The durable rows of one stream: SQLite (WAL) with rows keyed by sequence number."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = connect(path, what="stream store", schema=_SCHEMA, synchronous="FULL",
                               timeout=5.0, check_same_thread=False, rows=False)
        except HubError as exc:
            raise StreamError(
                path,
                f"cannot open the stream store ({exc.__cause__}); check that "
                "HUB_HOME is writable or delete the damaged file",
            ) from exc.__cause__
        try:  # stores made before ``key`` existed gain it (NULL for their rows)
            columns = {c[1] for c in self._db.execute("PRAGMA table_info(rows)")}
            if "key" not in columns:
                self._db.execute("ALTER TABLE rows ADD COLUMN key TEXT")
            self._db.execute("CREATE UNIQUE INDEX IF NOT EXISTS rows_key ON rows (key)")
        except sqlite3.Error as exc:
            self._db.close()
            raise StreamError(
                path, f"cannot upgrade the stream store ({exc}); check that HUB_HOME is writable"
            ) from exc

    @classmethod
    def reading(cls, path: Path, db: sqlite3.Connection) -> StreamStore:
        """This store's queries (``load``, ``has_seq``...) on a connection opened elsewhere (a
        follower's read-only one): nothing is created or upgraded."""
        store = cls.__new__(cls)
        store.path, store._db = path, db
        return store

    def load(
        self, window_rows: int, window_bytes: int, max_gaps: int | None = None
    ) -> tuple[int, SeqState, list[tuple[Row, int]], dict[str, Any], float]:
        """Row count, sequence state (at most ``max_gaps`` gap ranges in memory, all counted),
        the newest rows that fit ``window_rows`` and ``window_bytes`` with their JSON sizes,
        metadata and the last receive time."""
        db = self._db
        count = db.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
        first, last = db.execute("SELECT MIN(seq), MAX(seq) FROM rows").fetchone()
        gap_count = missing = 0
        keep = None if max_gaps is None else max_gaps + 1  # one more: it sets the floor
        newest: deque[list[int]] = deque(maxlen=keep)
        for start, end in db.execute(  # a cursor: O(max_gaps) memory however many gaps
            "SELECT seq + 1, nxt - 1 FROM (SELECT seq, LEAD(seq) OVER (ORDER BY seq) AS nxt "
            "FROM rows WHERE seq IS NOT NULL) WHERE nxt > seq + 1 ORDER BY seq"
        ):
            gap_count += 1
            missing += end - start + 1
            newest.append([start, end])
        gaps = list(newest)
        floor = None
        if max_gaps is not None and len(gaps) > max_gaps:
            floor = gaps.pop(0)[1] + 1
        window: list[tuple[Row, int]] = []
        held = 0
        received = 0.0
        for data, at in db.execute(
            "SELECT data, received FROM rows ORDER BY id DESC LIMIT ?", (window_rows,)
        ):
            if held + len(data) > window_bytes:
                break
            received = received or at
            held += len(data)
            window.append((json.loads(data), len(data)))
        window.reverse()
        if not received:
            row = db.execute("SELECT received FROM rows ORDER BY id DESC LIMIT 1").fetchone()
            received = row[0] if row else 0.0
        meta = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
        pruned_first = meta.pop("first_seq", None)  # `hub prune` removed rows from here on
        if isinstance(pruned_first, int) and first is not None and pruned_first < first:
            first = pruned_first  # a resent pruned row is a duplicate, not a late row
        seqs = SeqState(first, last, gaps, max_gaps, floor, gap_count, missing)
        return count, seqs, window, meta, received

    def has_seq(self, seq: int) -> bool:
        """Whether a row with sequence number ``seq`` is stored (an index lookup)."""
        return self._db.execute("SELECT 1 FROM rows WHERE seq = ?", (seq,)).fetchone() is not None

    def has_key(self, key: str) -> bool:
        """Whether a row with message id ``key`` is stored (an index lookup)."""
        return self._db.execute("SELECT 1 FROM rows WHERE key = ?", (key,)).fetchone() is not None

    def append(self, rows: Sequence[Record], meta: dict[str, Any]) -> None:
        """Commit ``(seq, received, json[, key])`` rows and metadata in one transaction."""
        try:
            with self._transaction():
                if rows:
                    self._db.executemany(
                        "INSERT OR IGNORE INTO rows (seq, received, data, key) "
                        "VALUES (?, ?, ?, ?)",
                        (row if len(row) == 4 else (*row, None) for row in rows),
                    )
                self._db.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    [(k, json.dumps(v)) for k, v in meta.items()],
                )
        except sqlite3.Error as exc:
            raise StreamError(
                self.path,
                f"cannot write to the stream store ({exc}); check the "
                "disk space and permissions of HUB_HOME",
            ) from exc

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()


def store_path(name: str, store_dir: str | Path | None = None) -> Path:
    """Where the rows of stream ``name`` are stored."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise StreamError(
            name,
            "a stream name may hold only letters, digits, '_', '.' and '-' "
            "(at most 128 characters, not starting with '.')",
        )
    folder = Path(store_dir) if store_dir is not None else get_settings().streams_dir
    return folder / f"{name}.sqlite"


def scratch_store_dir() -> Path:
    """A temporary folder for throwaway stream stores, deleted when this process exits."""
    folder = Path(tempfile.mkdtemp(prefix="hub-streams-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def read_store(name: str, store_dir: str | Path | None = None) -> pd.DataFrame:
    """Every stored row of stream ``name`` in the order received (no consumer needed)."""
    path = store_path(name, store_dir)
    if not path.is_file():
        raise StreamError(path, "no such stream store; start a StreamSource with this name first")
    try:
        with contextlib.closing(connect_readonly(path, what="stream store")) as db:
            records = [json.loads(d) for (d,) in db.execute("SELECT data FROM rows ORDER BY id")]
    except HubError as exc:
        raise StreamError(path, f"cannot read the stream store ({exc.__cause__})") from exc
    except sqlite3.Error as exc:
        raise StreamError(path, f"cannot read the stream store ({exc})") from exc
    return pd.DataFrame.from_records(records)
