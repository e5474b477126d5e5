"""Reader feedback on report sections: ``$HUB_HOME/reports.db`` (SQLite, WAL).

What readers do with a report's sections (expand, collapse, thumbs, time spent) is kept here,
outside any kernel, and read back by the section learner for the next report.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from hub_kernel.agents.report.sections import SECTIONS
from hub_kernel.agents.report.sections import audience as audience_spec
from hub_kernel.core.sqlite import connect
from hub_kernel.exceptions import ReportError

FEEDBACK_KINDS = ("expand", "collapse", "thumbs_up", "thumbs_down", "time")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    audience TEXT NOT NULL,
    section TEXT NOT NULL,
    kind TEXT NOT NULL,
    value REAL NOT NULL,
    user TEXT,
    report TEXT
);
CREATE INDEX IF NOT EXISTS feedback_audience ON feedback (audience, section);
"""


class FeedbackStore:
    """Reader feedback on report sections (SQLite under ``HUB_HOME``)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        if path is None:
            from hub_kernel.core.config import get_settings

            path = get_settings().ensure_home() / "reports.db"
        self.path = Path(path)

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = connect(self.path, what="report feedback", error=ReportError, schema=_SCHEMA,
                     rows=False)
        try:
            with db:
                yield db
        except sqlite3.Error as exc:
            raise ReportError(f"report feedback at {self.path} failed: {exc}") from exc
        finally:
            db.close()

    def record(self, audience: str, section: str, kind: str, value: float = 1.0, *,
               user: str | None = None, report: str | None = None) -> None:
        """Store one feedback event (``kind`` in ``FEEDBACK_KINDS``; ``value`` in seconds for
        ``time`` and ``collapse``, else a weight)."""
        audience_spec(audience)
        if section not in SECTIONS:
            raise ReportError(f"unknown report section {section!r}")
        if kind not in FEEDBACK_KINDS:
            raise ReportError(f"unknown feedback {kind!r}; kinds: {', '.join(FEEDBACK_KINDS)}")
        with self._db() as db:
            db.execute("INSERT INTO feedback (time, audience, section, kind, value, user, report)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (datetime.now(UTC).isoformat(timespec="milliseconds"), audience, section,
                        kind, float(value), user, report))

    def events(self, audience: str) -> list[tuple[str, str, float]]:
        """``(section, kind, value)`` of every event about ``audience``'s reports."""
        with self._db() as db:
            rows = db.execute("SELECT section, kind, value FROM feedback WHERE audience = ? "
                              "ORDER BY id", (audience,)).fetchall()
        return [(str(s), str(k), float(v)) for s, k, v in rows]

    def events_by_reader(self, audience: str) -> list[tuple[str, str, float, str]]:
        """``events`` with who sent each: the user, or for a reader without a name the
        report they read (``anonymous:REPORT``)."""
        with self._db() as db:
            rows = db.execute("SELECT section, kind, value, user, report FROM feedback "
                              "WHERE audience = ? ORDER BY id", (audience,)).fetchall()
        return [(str(s), str(k), float(v), str(u) if u else f"anonymous:{r or ''}")
                for s, k, v, u, r in rows]
