"""Versioned state: every layout and policy an agent or a person puts in force is kept.

A ``VersionStore`` keeps, per ``(kind, key)`` (for example ``("layout", "alice/weather")`` or
``("policy", "layout-bandit")``), an append-only list of versions, each a JSON payload with who
made it and why. Nothing is overwritten: restoring version 3 writes a new version whose payload
is exactly version 3's, so the history itself stays intact and can be rolled forward again.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub_kernel.exceptions import VersionError
from hub_kernel.safety.store import connect

_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    version INTEGER NOT NULL,
    time TEXT NOT NULL,
    author TEXT NOT NULL,
    reason TEXT NOT NULL,
    payload TEXT NOT NULL,
    restored_from INTEGER,
    PRIMARY KEY (kind, key, version)
);
CREATE TRIGGER IF NOT EXISTS versions_no_update BEFORE UPDATE ON versions
BEGIN SELECT RAISE(ABORT, 'versions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS versions_no_delete BEFORE DELETE ON versions
BEGIN SELECT RAISE(ABORT, 'versions are append-only'); END;
"""


@dataclass(frozen=True)
class Version:
    kind: str
    key: str
    version: int
    time: str
    author: str
    reason: str
    payload: Any
    restored_from: int | None = None


def _row(row: Any) -> Version:
    return Version(row["kind"], row["key"], row["version"], row["time"], row["author"],
                   row["reason"], json.loads(row["payload"]), row["restored_from"])


class VersionStore:
    """Append-only versions of layouts, policies and other state, in ``safety.db``."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = path

    def save(self, kind: str, key: str, payload: Any, *, author: str, reason: str,
             restored_from: int | None = None) -> Version:
        """Store ``payload`` (JSON-able) as the newest version of ``(kind, key)``."""
        with connect(self.path, _SCHEMA) as db:
            return self.save_in(db, kind, key, payload, author=author, reason=reason,
                                restored_from=restored_from)

    def save_in(self, db: sqlite3.Connection, kind: str, key: str, payload: Any, *,
                author: str, reason: str, restored_from: int | None = None) -> Version:
        """``save`` inside the caller's open transaction on this store's database, so that a
        version and what it settles (a proposal's status) commit together or not at all."""
        text = json.dumps(payload, sort_keys=True)
        last = db.execute("SELECT MAX(version) FROM versions WHERE kind=? AND key=?",
                          (kind, key)).fetchone()[0]
        number = (last or 0) + 1
        stamp = datetime.now(UTC).isoformat(timespec="microseconds")
        db.execute("INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (kind, key, number, stamp, author, reason, text, restored_from))
        return Version(kind, key, number, stamp, author, reason, json.loads(text), restored_from)

    def get(self, kind: str, key: str, version: int | None = None) -> Version:
        """One version (default: the newest); ``VersionError`` when there is none."""
        with connect(self.path, _SCHEMA) as db:
            if version is None:
                row = db.execute("SELECT * FROM versions WHERE kind=? AND key=? "
                                 "ORDER BY version DESC LIMIT 1", (kind, key)).fetchone()
            else:
                row = db.execute("SELECT * FROM versions WHERE kind=? AND key=? AND version=?",
                                 (kind, key, int(version))).fetchone()
        if row is None:
            what = f"version {version}" if version is not None else "any version"
            raise VersionError(f"no {what} of {kind} {key!r} is stored; "
                               f"`hub rollback {kind} {key} --list` shows what there is")
        return _row(row)

    def latest(self, kind: str, key: str) -> Version | None:
        try:
            return self.get(kind, key)
        except VersionError:
            return None

    def history(self, kind: str, key: str) -> list[Version]:
        """All versions of ``(kind, key)``, oldest first."""
        with connect(self.path, _SCHEMA) as db:
            rows = db.execute("SELECT * FROM versions WHERE kind=? AND key=? ORDER BY version",
                              (kind, key)).fetchall()
        return [_row(r) for r in rows]

    def keys(self, kind: str) -> list[str]:
        with connect(self.path, _SCHEMA) as db:
            rows = db.execute("SELECT DISTINCT key FROM versions WHERE kind=? ORDER BY key",
                              (kind,)).fetchall()
        return [r["key"] for r in rows]

    def restore(self, kind: str, key: str, version: int, *, author: str,
                reason: str | None = None) -> Version:
        """Make ``version`` current again: a new version with exactly its payload."""
        old = self.get(kind, key, version)
        return self.save(kind, key, old.payload, author=author,
                         reason=reason or f"restored version {version}", restored_from=version)
