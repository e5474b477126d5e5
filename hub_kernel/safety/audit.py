"""The audit log: an append-only SQLite table under ``$HUB_HOME/audit.db`` (WAL).

Every decision an agent or a gate takes is one row: time, agent, mode, a digest of what it
observed, the action, its propensity and expected reward, an explanation in words, who approved
it, and the outcome reward when known. Rows are never updated or deleted (triggers refuse it);
an outcome learned later is a new row pointing at the decision (``ref``). Each row carries the
hash of the previous one and its own hash over its content, so any edit, deletion or insertion
is found by ``verify()`` (``hub audit verify``).

Removing the newest rows would leave a shorter chain that still verifies, so after each commit
the id and hash of the newest row are also written to an anchor file next to the database
(``audit.db.anchor``, replaced atomically and fsynced). ``verify()`` reports it when the log
ends before the anchored row ("rows after id N were removed") or that row differs. The anchor
is written after the commit, never before: a writer killed in between leaves the anchor a row
behind, which verifies; it never names a row that was not committed. Writers hold a lock file
(``audit.db.anchor.lock``) across commit and anchor, so the anchor never moves backwards.
A local anchor stops truncation by anyone who does not also edit the anchor; for more, keep
the anchor elsewhere (``anchor_path``) or compare copies of it over time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub_kernel.core.csvfile import write_csv
from hub_kernel.core.sqlite import connect
from hub_kernel.exceptions import AuditError

if sys.platform == "win32":  # pragma: no cover - no flock: the anchor may trail further
    fcntl = None
else:
    import fcntl

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
    """The result of ``AuditLog.verify``; ``reason`` also carries a warning when ``ok``."""

    ok: bool
    n_rows: int
    first_bad_id: int | None = None
    reason: str = ""
    anchor_id: int | None = None


_CONTENT = [f.name for f in fields(AuditEntry) if f.name not in ("id", "hash")]


def _digest(row: dict[str, Any]) -> str:
    content = {key: row[key] for key in _CONTENT} | {"id": row["id"]}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def observation_digest(observation: Any) -> str:
    """A short stable digest of what a decision was based on (any JSON-able value)."""
    text = json.dumps(observation, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_LOCK_TIMEOUT = 30.0


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (released by the OS if the process dies)."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise AuditError(f"audit log lock {lock_path} cannot be opened: {exc}") from exc
    try:
        deadline = time.monotonic() + _LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise AuditError(f"audit log lock {lock_path} is held by another process "
                                     f"for more than {_LOCK_TIMEOUT:.0f} s") from None
                time.sleep(0.002)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: a reader sees the old or the new file, never a mix."""
    # writers hold the lock, so one temporary name serves (and a crash leaves one file at most)
    tmp = path.with_name(f"{path.name}.tmp" if fcntl else f"{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _decision(*, agent: str, action: str, explanation: str, mode: str | None = None,
              observation: Any = None, propensity: float | None = None,
              expected_reward: float | None = None, approved_by: str | None = None,
              outcome_reward: float | None = None, ref: int | None = None) -> dict[str, Any]:
    """One decision's fields as stored (numbers as REAL: hash what will be read back, 1.0
    not 1, or verify fails)."""
    def number(value: float | None) -> float | None:
        return None if value is None else float(value)

    return {"agent": agent, "action": action, "explanation": explanation, "mode": mode,
            "observation": observation, "propensity": number(propensity),
            "expected_reward": number(expected_reward), "approved_by": approved_by,
            "outcome_reward": number(outcome_reward), "ref": None if ref is None else int(ref)}


class AuditLog:
    """The audit log at ``path`` (default ``$HUB_HOME/audit.db``), anchored in ``anchor_path``
    (default: ``path`` + ``.anchor``)."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *,
                 anchor_path: str | os.PathLike[str] | None = None) -> None:
        if path is None:
            from hub_kernel.core.config import get_settings

            path = get_settings().home / "audit.db"
        self.path = Path(path)
        self.anchor_path = (Path(anchor_path) if anchor_path is not None
                            else self.path.with_name(self.path.name + ".anchor"))

    def _connect(self) -> sqlite3.Connection:
        # synchronous=FULL: a committed decision survives a power cut (the chain stays whole)
        return connect(self.path, what="audit log", error=AuditError, schema=_SCHEMA,
                       synchronous="FULL")

    def record(self, *, agent: str, action: str, explanation: str, mode: str | None = None,
               observation: Any = None, propensity: float | None = None,
               expected_reward: float | None = None, approved_by: str | None = None,
               outcome_reward: float | None = None, ref: int | None = None) -> AuditEntry:
        """Append one decision (or, with ``ref``, the outcome of an earlier one)."""
        return self.record_many([dict(
            agent=agent, action=action, explanation=explanation, mode=mode,
            observation=observation, propensity=propensity, expected_reward=expected_reward,
            approved_by=approved_by, outcome_reward=outcome_reward, ref=ref)])[0]

    def record_many(self, decisions: Sequence[Mapping[str, Any]]) -> list[AuditEntry]:
        """Append several decisions (each with ``record``'s keywords) in one transaction:
        all of them or none."""
        if not decisions:
            return []
        with self.writer_lock():
            rows = self._append([_decision(**d) for d in decisions])
            self._write_anchor(rows[-1]["id"], rows[-1]["hash"])
        for row in rows:
            logger.info("audit: %s %s: %s", row["agent"], row["action"], row["explanation"])
        return [AuditEntry(**row) for row in rows]

    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Hold the writers' lock: no row is appended and the anchor does not move meanwhile
        (``hub backup`` copies the log and its anchor under it)."""
        with _exclusive(self.anchor_path.with_name(self.anchor_path.name + ".lock")):
            yield

    def _append(self, decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Insert and commit chained rows, one transaction; returns them."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")  # one writer at a time: the chain stays a chain
            last = db.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
            next_id, prev_hash = ((last["id"] + 1), last["hash"]) if last else (1, GENESIS)
            rows = []
            for decision in decisions:
                observation = decision.pop("observation")
                row: dict[str, Any] = {
                    "id": next_id,
                    "time": datetime.now(UTC).isoformat(timespec="microseconds"),
                    "agent": decision["agent"], "mode": decision["mode"],
                    "observation_digest": None if observation is None
                    else observation_digest(observation),
                    "action": decision["action"], "propensity": decision["propensity"],
                    "expected_reward": decision["expected_reward"],
                    "explanation": decision["explanation"],
                    "approved_by": decision["approved_by"],
                    "outcome_reward": decision["outcome_reward"], "ref": decision["ref"],
                    "prev_hash": prev_hash,
                }
                row["hash"] = _digest(row)
                columns = ", ".join(row)
                db.execute(f"INSERT INTO audit ({columns}) VALUES ({', '.join('?' * len(row))})",  # noqa: S608 - fixed column names
                           list(row.values()))
                rows.append(row)
                next_id, prev_hash = next_id + 1, row["hash"]
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise AuditError(f"audit log {self.path} cannot be written: {exc}") from exc
        finally:
            db.close()
        return rows

    def _write_anchor(self, row_id: int, row_hash: str) -> None:
        """Record the newest committed row, after its commit. A failure leaves the anchor
        behind (which verifies), so it is logged rather than raised: the row is written."""
        try:
            _write_atomically(self.anchor_path,
                              json.dumps({"id": row_id, "hash": row_hash}) + "\n")
        except OSError as exc:
            logger.error("audit anchor %s not updated (row %d is committed): %s",
                         self.anchor_path, row_id, exc)

    def anchor(self) -> tuple[int, str] | None:
        """The ``(id, hash)`` of the newest row the anchor file records, or None without one.

        Raises ``AuditError`` when the file exists but does not hold an anchor.
        """
        try:
            text = self.anchor_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AuditError(f"audit anchor {self.anchor_path} cannot be read: {exc}") from exc
        try:
            data = json.loads(text)
            row_id, row_hash = data["id"], data["hash"]
            if not isinstance(row_id, int) or row_id < 1 or not isinstance(row_hash, str):
                raise TypeError("id must be a positive integer and hash a string")
        except (ValueError, KeyError, TypeError) as exc:
            raise AuditError(f"audit anchor {self.anchor_path} is not an anchor ({exc}); "
                             "it was edited or the disk is damaged") from exc
        return row_id, row_hash

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
        if limit:  # the newest rows only, read newest first
            query, args = query + " ORDER BY id DESC LIMIT ?", [*args, int(limit)]
        else:
            query += " ORDER BY id"
        db = self._connect()
        try:
            rows = [AuditEntry(**dict(r)) for r in db.execute(query, args).fetchall()]
        finally:
            db.close()
        return rows[::-1] if limit else rows

    def verify(self) -> Verification:
        """Recompute the chain and check it against the anchor: a changed, removed or
        inserted row is reported by its id, and so are newest rows that were removed.

        The anchor may trail the log (a writer killed between its commit and the anchor
        write), never lead it. Without an anchor file the chain is checked alone and
        ``reason`` says that truncation could not be checked.
        """
        # the anchor first: it only ever names committed rows, so rows read after it include
        # its row even while another process appends
        try:
            anchor, anchor_error = self.anchor(), None
        except AuditError as exc:
            anchor, anchor_error = None, exc
        rows = self.entries()
        chain = self._verify_chain(rows)
        if not chain.ok:
            return chain
        if anchor_error is not None:
            return Verification(False, len(rows), None, str(anchor_error))
        if anchor is None:
            if not rows:
                return chain
            return Verification(True, len(rows), None,
                                f"no anchor file {self.anchor_path}: removal of the newest "
                                "rows cannot be checked (the next write creates it)")
        anchor_id, anchor_hash = anchor
        last_id = rows[-1].id if rows else 0
        if last_id < anchor_id:
            return Verification(False, len(rows), last_id + 1,
                                f"rows after id {last_id} were removed: the anchor records row "
                                f"{anchor_id}", anchor_id)
        if rows[anchor_id - 1].hash != anchor_hash:  # ids are 1..n: checked above
            return Verification(False, len(rows), anchor_id,
                                f"row {anchor_id} does not match the anchor: the log was "
                                "rewritten from there on", anchor_id)
        return Verification(True, len(rows), anchor_id=anchor_id)

    @staticmethod
    def _verify_chain(rows: list[AuditEntry]) -> Verification:
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
        """Every row to a CSV file, formula-safe (``core.csvfile``: a cell such as
        ``=HYPERLINK(...)`` opens as text); ``AuditError`` if the file cannot be written."""
        try:
            return write_csv(path, [f.name for f in fields(AuditEntry)],
                             (entry.to_dict() for entry in self.entries()))
        except OSError as exc:
            raise AuditError(f"cannot write the audit export {path}: "
                             f"{exc.strerror or exc}; choose a writable path") from exc


def log_decision(**decision: Any) -> AuditEntry | None:
    """Record a decision not to act (a skip, a hold) in the default audit log; a failure is
    logged, not raised. Decisions that act call ``AuditLog().record`` first, which raises, so
    nothing is done that could not be audited."""
    try:
        return AuditLog().record(**decision)
    except AuditError as exc:
        logger.error("could not write to the audit log: %s", exc)
        return None
