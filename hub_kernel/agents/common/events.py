"""The interaction event store: ``$HUB_HOME/events.db`` (SQLite, WAL), outside any kernel.

Voila gives every viewer a fresh kernel, so what a person did (thumbs, pins, expands, clicks,
dwell time) is kept here, keyed by user, session and dashboard, and read back by the agents of
the next session.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hub_kernel.core.sqlite import connect
from hub_kernel.exceptions import AgentError

SKILLS = ("novice", "analyst", "expert")
KINDS = ("thumbs_up", "thumbs_down", "pin", "unpin", "expand", "dismiss", "click", "dwell",
         "first", "task_done",
         # the whole dashboard: "done" (the viewer's question is answered; tile "dashboard"),
         # "rating" (1-5 when leaving), "train" (a model trained from the page), "export"
         "done", "rating", "train", "export",
         # measured, per tile: "render" (seconds the page took to draw it), "compute"
         # (seconds the kernel spent computing it)
         "render", "compute")

#: what a person does on purpose (not measured time, not clicks): what exploration decays with
DELIBERATE_KINDS = ("thumbs_up", "thumbs_down", "pin", "unpin", "expand", "dismiss", "first",
                    "task_done", "done", "rating", "train", "export")
#: the tile id of events about the whole dashboard (done, rating, train, export)
DASHBOARD_TILE = "dashboard"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, user TEXT NOT NULL,
    session TEXT NOT NULL, dashboard TEXT NOT NULL, tile TEXT NOT NULL, kind TEXT NOT NULL,
    value REAL NOT NULL DEFAULT 1.0, feature TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_user ON events (user, dashboard);
CREATE TABLE IF NOT EXISTS users (user TEXT PRIMARY KEY, skill TEXT NOT NULL, time TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rewards (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, user TEXT NOT NULL,
    session TEXT NOT NULL, dashboard TEXT NOT NULL, user_group TEXT NOT NULL,
    reward REAL NOT NULL, explored INTEGER, terms TEXT NOT NULL DEFAULT '{}'
);
"""


@dataclass(frozen=True)
class InteractionEvent:
    user: str
    session: str
    dashboard: str
    tile: str
    kind: str
    value: float = 1.0
    time: str = ""
    feature: str = ""  # what kind of tile (e.g. chart:histogram): lets learning transfer


class EventStore:
    """Append and read interaction events (``path`` default ``$HUB_HOME/events.db``)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        if path is None:
            from hub_kernel.core.config import get_settings

            path = get_settings().home / "events.db"
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        db = connect(self.path, what="event store", error=AgentError, schema=_SCHEMA)
        columns = {r[1] for r in db.execute("PRAGMA table_info(rewards)")}
        if "terms" not in columns:  # databases from before the reward terms were kept
            try:
                with db:
                    db.execute("ALTER TABLE rewards ADD COLUMN terms TEXT NOT NULL DEFAULT '{}'")
            except sqlite3.OperationalError as exc:
                if "duplicate column" not in str(exc):  # another kernel migrated first
                    db.close()
                    raise AgentError(f"event store {self.path} cannot be migrated: {exc}"
                                     ) from exc
        return db

    def add(self, events: Iterable[InteractionEvent]) -> int:
        rows = []
        for e in events:
            if e.kind not in KINDS:
                raise AgentError(f"unknown interaction kind {e.kind!r}; kinds: {', '.join(KINDS)}")
            stamp = e.time or datetime.now(UTC).isoformat(timespec="milliseconds")
            rows.append((stamp, e.user, e.session, e.dashboard, e.tile, e.kind, float(e.value),
                         e.feature))
        db = self._connect()
        try:
            with db:
                db.execute("BEGIN")
                db.executemany("INSERT INTO events (time, user, session, dashboard, tile, kind, "
                               "value, feature) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.Error as exc:
            raise AgentError(f"event store {self.path} cannot be written: {exc}") from exc
        finally:
            db.close()
        return len(rows)

    def events(self, *, user: str | None = None, dashboard: str | None = None,
               session: str | None = None, kind: str | None = None) -> list[InteractionEvent]:
        """Events oldest first, filtered by user, dashboard, session and kind."""
        if not self.path.exists():
            return []
        query, args = "SELECT * FROM events WHERE 1=1", list[str]()
        for column, value in (("user", user), ("dashboard", dashboard), ("session", session),
                              ("kind", kind)):
            if value is not None:
                query, args = query + f" AND {column} = ?", [*args, value]
        db = self._connect()
        try:
            rows = db.execute(query + " ORDER BY id", args).fetchall()
        finally:
            db.close()
        return [InteractionEvent(r["user"], r["session"], r["dashboard"], r["tile"], r["kind"],
                                 r["value"], r["time"], r["feature"]) for r in rows]

    def count(self, *, user: str, kinds: Iterable[str] | None = None) -> int:
        """How many events ``user`` has (only of ``kinds``, if given)."""
        if not self.path.exists():
            return 0
        query, args = "SELECT COUNT(*) FROM events WHERE user=?", [user]
        if kinds is not None:
            kinds = list(kinds)
            query += f" AND kind IN ({', '.join('?' * len(kinds))})"
            args += kinds
        db = self._connect()
        try:
            return int(db.execute(query, args).fetchone()[0])
        finally:
            db.close()

    def round_count(self, *, user: str, dashboard: str) -> int:
        """How many rounds of ``user`` on ``dashboard`` have a reward row."""
        if not self.path.exists():
            return 0
        db = self._connect()
        try:
            return int(db.execute("SELECT COUNT(*) FROM rewards WHERE user=? AND dashboard=?",
                                  (user, dashboard)).fetchone()[0])
        finally:
            db.close()

    def deliberate_count(self, *, user: str) -> int:
        """How many deliberate interactions (``DELIBERATE_KINDS``) ``user`` has had."""
        return self.count(user=user, kinds=DELIBERATE_KINDS)

    def add_reward(self, *, user: str, session: str, dashboard: str, group: str,
                   reward: float, explored: bool | None = None,
                   terms: dict[str, float] | None = None) -> None:
        """One round's reward for a user and its ``terms`` (for reward parity between user
        groups, and to see what earned it)."""
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        db = self._connect()
        try:
            with db:
                db.execute("INSERT INTO rewards (time, user, session, dashboard, user_group, "
                           "reward, explored, terms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           (stamp, user, session, dashboard, group, float(reward),
                            None if explored is None else int(explored),
                            json.dumps({k: float(v) for k, v in (terms or {}).items()})))
        except sqlite3.Error as exc:
            raise AgentError(f"event store {self.path} cannot be written: {exc}") from exc
        finally:
            db.close()

    def rewards(self) -> list[tuple[str, float, bool | None]]:
        """(group, reward, explored) of every recorded round, oldest first."""
        if not self.path.exists():
            return []
        db = self._connect()
        try:
            rows = db.execute("SELECT user_group, reward, explored FROM rewards ORDER BY id")
            return [(r[0], float(r[1]), None if r[2] is None else bool(r[2])) for r in rows]
        finally:
            db.close()

    def reward_rows(self, *, user: str | None = None) -> list[dict[str, object]]:
        """Every recorded round (oldest first) with its reward terms (``terms``, a dict)."""
        if not self.path.exists():
            return []
        query, args = "SELECT * FROM rewards", list[str]()
        if user is not None:
            query, args = query + " WHERE user = ?", [user]
        db = self._connect()
        try:
            rows = db.execute(query + " ORDER BY id", args).fetchall()
        finally:
            db.close()
        return [{**dict(r), "terms": json.loads(r["terms"] or "{}")} for r in rows]

    def set_skill(self, user: str, skill: str) -> None:
        """Record the skill level ``user`` states (novice, analyst or expert)."""
        if skill not in SKILLS:
            raise AgentError(f"unknown skill level {skill!r}; choose one of {', '.join(SKILLS)}")
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        db = self._connect()
        try:
            with db:
                db.execute("INSERT OR REPLACE INTO users VALUES (?, ?, ?)", (user, skill, stamp))
        except sqlite3.Error as exc:
            raise AgentError(f"event store {self.path} cannot be written: {exc}") from exc
        finally:
            db.close()

    def skills(self) -> dict[str, str]:
        """The stated skill level of every user who stated one."""
        if not self.path.exists():
            return {}
        db = self._connect()
        try:
            return {r[0]: r[1] for r in db.execute("SELECT user, skill FROM users")}
        finally:
            db.close()
