"""The audit log: an append-only SQLite table under ``$HUB_HOME/audit.db`` (WAL).

Every decision an agent or a gate takes is one row: time, agent, mode, a digest of what it
observed, the action, its propensity and expected reward, an explanation in words, who approved
it, and the outcome reward when known. Rows are never updated or deleted (triggers refuse it);
an outcome learned later is a new row pointing at the decision (``ref``). Each row carries the
hash of the previous one and its own hash over its content, so any edit, deletion or insertion
is found by ``verify()`` (``hub audit verify``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import sqlite3
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub_kernel.exceptions import HubError

logger = logging.getLogger("hub_kernel")

GENESIS = "0" * 64
_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    agent TEXT NOT NULL,
    mode TEXT,
    observation_digest TEXT,
    action TEXT NOT NULL,
    propensity REAL,
    expected_reward REAL,
    explanation TEXT NOT NULL,
    approved_by TEXT,
    outcome_reward REAL,
    ref INTEGER,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


class AuditError(HubError):
    """The audit log cannot be opened or written."""


@dataclass(frozen=True)
class AuditEntry:
    id: int
    time: str
    agent: str
    mode: str | None
    observation_digest: str | None
    action: str
    propensity: float | None
    expected_reward: float | None
    explanation: str
    approved_by: str | None
    outcome_reward: float | None
    ref: int | None
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Verification:
    ok: bool
    n_rows: int
    first_bad_id: int | None = None
    reason: str = ""


_CONTENT = [f.name for f in fields(AuditEntry) if f.name not in ("id", "hash")]


def _digest(row: dict[str, Any]) -> str:
    content = {key: row[key] for key in _CONTENT} | {"id": row["id"]}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def observation_digest(observation: Any) -> str:
    """A short stable digest of what a decision was based on (any JSON-able value)."""
    text = json.dumps(observation, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class AuditLog:
    """The audit log at ``path`` (default ``$HUB_HOME/audit.db``)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        if path is None:
            from hub_kernel.config import get_settings

            path = get_settings().home / "audit.db"
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise AuditError(f"audit log {self.path} cannot be opened: {exc}") from exc
        db.row_factory = sqlite3.Row
        return db

    def record(self, *, agent: str, action: str, explanation: str, mode: str | None = None,
               observation: Any = None, propensity: float | None = None,
               expected_reward: float | None = None, approved_by: str | None = None,
               outcome_reward: float | None = None, ref: int | None = None) -> AuditEntry:
        """Append one decision (or, with ``ref``, the outcome of an earlier one)."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")  # one writer at a time: the chain stays a chain
            last = db.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
            row: dict[str, Any] = {
                "id": (last["id"] + 1) if last else 1,
                "time": datetime.now(UTC).isoformat(timespec="microseconds"),
                "agent": agent, "mode": mode,
                "observation_digest": None if observation is None
                else observation_digest(observation),
                "action": action, "propensity": propensity, "expected_reward": expected_reward,
                "explanation": explanation, "approved_by": approved_by,
                "outcome_reward": outcome_reward, "ref": ref,
                "prev_hash": last["hash"] if last else GENESIS,
            }
            row["hash"] = _digest(row)
            columns = ", ".join(row)
            db.execute(f"INSERT INTO audit ({columns}) VALUES ({', '.join('?' * len(row))})",  # noqa: S608 - fixed column names
                       list(row.values()))
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise AuditError(f"audit log {self.path} cannot be written: {exc}") from exc
        finally:
            db.close()
        logger.info("audit: %s %s: %s", agent, action, explanation)
        return AuditEntry(**row)

    def entries(self, *, agent: str | None = None, action: str | None = None,
                since: str | None = None, limit: int | None = None) -> list[AuditEntry]:
        """Rows, oldest first, filtered by agent, action substring and time (ISO, UTC)."""
        if not self.path.exists():
            return []
        query, args = "SELECT * FROM audit WHERE 1=1", list[Any]()
        if agent:
            query, args = query + " AND agent = ?", [*args, agent]
        if action:
            query, args = query + " AND action LIKE ?", [*args, f"%{action}%"]
        if since:
            query, args = query + " AND time >= ?", [*args, since]
        query += " ORDER BY id"
        db = self._connect()
        try:
            rows = [AuditEntry(**dict(r)) for r in db.execute(query, args).fetchall()]
        finally:
            db.close()
        return rows[-limit:] if limit else rows

    def verify(self) -> Verification:
        """Recompute the chain: a changed, removed or inserted row is reported by its id.

        Removing the newest rows leaves a shorter chain that still verifies: detecting that
        needs the last hash kept elsewhere (an anchor), which this log does not do yet.
        """
        rows = self.entries()
        previous = GENESIS
        for expected_id, entry in enumerate(rows, start=1):
            data = entry.to_dict()
            if entry.id != expected_id:
                return Verification(False, len(rows), entry.id,
                                    f"row {expected_id} is missing before row {entry.id}")
            if entry.prev_hash != previous:
                return Verification(False, len(rows), entry.id,
                                    f"row {entry.id} does not follow row {entry.id - 1}")
            if _digest(data) != entry.hash:
                return Verification(False, len(rows), entry.id,
                                    f"row {entry.id} was changed after it was written")
            previous = entry.hash
        return Verification(True, len(rows))

    def export_csv(self, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=[f.name for f in fields(AuditEntry)])
            writer.writeheader()
            for entry in self.entries():
                writer.writerow(entry.to_dict())
        return path


def log_decision(**decision: Any) -> AuditEntry | None:
    """Record a decision not to act (a skip, a hold) in the default audit log; a failure is
    logged, not raised. Decisions that act call ``AuditLog().record`` first, which raises, so
    nothing is done that could not be audited."""
    try:
        return AuditLog().record(**decision)
    except AuditError as exc:
        logger.error("could not write to the audit log: %s", exc)
        return None
