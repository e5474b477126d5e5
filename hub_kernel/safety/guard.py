"""Graceful degradation: an agent that raises changes nothing, and the failure is kept.

``guarded(agent, key, fn)`` runs one agent step; an exception is logged, written to the
``failures`` table of ``safety.db`` and to the audit log, and ``None`` is returned so the caller
keeps its last good state. ``hub doctor`` reports recent failures.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from hub_kernel.safety.audit import log_decision
from hub_kernel.safety.store import connect

logger = logging.getLogger("hub_kernel")
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, agent TEXT NOT NULL,
    key TEXT NOT NULL, error TEXT NOT NULL, traceback TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Failure:
    id: int
    time: str
    agent: str
    key: str
    error: str
    traceback: str


class FailureLog:
    """Agent failures in ``safety.db``."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = path

    def record(self, agent: str, key: str, exc: BaseException) -> Failure:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        error = f"{type(exc).__name__}: {exc}"
        text = "".join(traceback.format_exception(exc))[-10_000:]
        with connect(self.path, _SCHEMA) as db:
            cursor = db.execute("INSERT INTO failures (time, agent, key, error, traceback) "
                                "VALUES (?, ?, ?, ?, ?)", (stamp, agent, key, error, text))
            number = int(cursor.lastrowid or 0)
        return Failure(number, stamp, agent, key, error, text)

    def recent(self, within: timedelta = timedelta(days=1)) -> list[Failure]:
        """Failures newer than ``within``, oldest first."""
        since = (datetime.now(UTC) - within).isoformat(timespec="seconds")
        with connect(self.path, _SCHEMA) as db:
            rows = db.execute("SELECT * FROM failures WHERE time >= ? ORDER BY id",
                              (since,)).fetchall()
        return [Failure(**dict(r)) for r in rows]


def guarded(agent: str, key: str, step: Callable[[], T], *,
            failures: FailureLog | None = None) -> T | None:
    """Run ``step``; on an exception keep the last good state: record it and return None."""
    try:
        return step()
    except Exception as exc:
        logger.exception("agent %s failed on %s; keeping the last good state", agent, key)
        try:
            (failures or FailureLog()).record(agent, key, exc)
        except Exception:  # the failure log itself is broken: the log line above stays
            logger.exception("could not record the failure of agent %s", agent)
        log_decision(agent=agent, action="fallback: kept last good state",
                     observation={"key": key},
                     explanation=f"{agent} failed ({type(exc).__name__}: {exc}); "
                                 "nothing was changed")
        return None
