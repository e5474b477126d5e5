"""One way to open hub's SQLite files (events, audit, safety, run history, streams, sections).

``connect`` creates the parent folder, opens in autocommit mode (callers say ``BEGIN`` when they
need a transaction), switches to WAL so readers never block the writer, sets a busy timeout so
two processes wait for each other instead of failing, and sets ``synchronous`` (``FULL`` where a
row must survive a power cut: the audit log and streams; ``NORMAL`` is safe with WAL otherwise).
Errors become the caller's ``HubError`` subclass, naming the file.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from hub_kernel.exceptions import HubError

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]


def connect(path: str | Path, *, what: str, error: type[HubError] = HubError,
            schema: str | None = None, synchronous: Synchronous | None = None,
            timeout: float = 30.0, check_same_thread: bool = True,
            rows: bool = True) -> sqlite3.Connection:
    """Open ``path`` (WAL, busy timeout ``timeout`` s, autocommit) and run ``schema`` once.

    ``what`` names the file in errors ("audit log", "event store"...). ``rows=True`` sets
    ``sqlite3.Row`` as the row factory. ``synchronous=None`` keeps SQLite's default (FULL).
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(target, timeout=timeout, isolation_level=None,
                             check_same_thread=check_same_thread)
    except (OSError, sqlite3.Error) as exc:
        raise error(f"{what} {target} cannot be opened: {exc}") from exc
    try:
        db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        _wal(db, timeout)
        if synchronous is not None:
            db.execute(f"PRAGMA synchronous={synchronous}")
        if schema:
            db.executescript(schema)
    except sqlite3.Error as exc:
        db.close()
        raise error(f"{what} {target} cannot be opened: {exc}") from exc
    if rows:
        db.row_factory = sqlite3.Row
    return db


def _wal(db: sqlite3.Connection, timeout: float) -> None:
    """Put the file in WAL mode. Switching takes a lock SQLite's busy handler does not wait
    for, so a file another thread or process opens at the same moment is retried; a file
    already in WAL mode (the usual case) is left alone."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def connect_readonly(path: str | Path, *, what: str,
                     error: type[HubError] = HubError) -> sqlite3.Connection:
    """Open ``path`` read-only (it must exist); for inspecting a store another process writes."""
    target = Path(path)
    try:
        return sqlite3.connect(f"file:{target}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise error(f"{what} {target} cannot be read: {exc}") from exc


@contextmanager
def transaction(db: sqlite3.Connection, *, what: str,
                error: type[HubError] = HubError) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` on ``db`` (an autocommit connection from ``connect``),
    rolled back on any exception; SQLite errors become ``error`` naming ``what``."""
    try:
        db.execute("BEGIN IMMEDIATE")
        yield db
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise error(f"{what} cannot be written: {exc}") from exc
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
