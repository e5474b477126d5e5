"""``hub prune``: retention of what grows without bound, oldest first.

Three settings bound three stores, each off unless set:

- ``HUB_RETAIN_EVENTS_DAYS``: interaction events (``events.db``) older than that are deleted;
  what the agents learned from them is kept in their learners, and reward rows are kept;
- ``HUB_RETAIN_STREAM_ROWS``: each stream store keeps its newest rows; a store a consumer is
  following is skipped (its lock is held) and pruned on the next run. The store remembers
  the first sequence number it ever held, so a server resending a pruned row is counted as
  a duplicate, never stored again;
- ``HUB_RETAIN_RUNS_DAYS``: finished scheduled runs older than that leave the run history,
  with their executed notebooks and HTML exports (a running or unfinished run is kept).

Never pruned: registered model versions (MLflow), the audit log, layout and policy versions,
proposals, the catalog's datasets.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub_kernel.core.config import Settings, get_settings
from hub_kernel.exceptions import HubError

if __import__("sys").platform != "win32":
    import fcntl
else:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


@dataclass
class PruneReport:
    """What ``prune`` removed (or, with ``dry_run``, would remove)."""

    dry_run: bool
    events: int = 0
    stream_rows: dict[str, int] = field(default_factory=dict)
    streams_busy: list[str] = field(default_factory=list)
    runs: int = 0
    run_files: int = 0
    settings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if not self.settings:
            return ("nothing to prune: no retention is set (HUB_RETAIN_EVENTS_DAYS, "
                    "HUB_RETAIN_STREAM_ROWS, HUB_RETAIN_RUNS_DAYS)")
        verb = "would remove" if self.dry_run else "removed"
        parts = [f"{self.events} event(s)",
                 f"{sum(self.stream_rows.values())} stream row(s) from "
                 f"{len(self.stream_rows)} stream(s)",
                 f"{self.runs} run(s) with {self.run_files} file(s)"]
        busy = (f"; skipped while followed: {', '.join(self.streams_busy)}"
                if self.streams_busy else "")
        return f"{verb} {', '.join(parts)} ({'; '.join(self.settings)}){busy}"


def prune(*, settings: Settings | None = None, now: datetime | None = None,
          dry_run: bool = False) -> PruneReport:
    """Apply the retention settings (module docstring); ``dry_run`` counts only."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    report = PruneReport(dry_run)
    if settings.retain_events_days is not None:
        report.settings.append(f"events older than {settings.retain_events_days:g} days")
        cutoff = (now - timedelta(days=settings.retain_events_days)).isoformat()
        report.events = _delete(settings.home / "events.db", "events", "time < ?", (cutoff,),
                                dry_run)
    if settings.retain_stream_rows is not None:
        report.settings.append(f"the newest {settings.retain_stream_rows} rows per stream")
        for path in sorted(settings.streams_dir.glob("*.sqlite")):
            removed = _prune_stream(path, settings.retain_stream_rows, dry_run)
            if removed is None:
                report.streams_busy.append(path.stem)
            elif removed:
                report.stream_rows[path.stem] = removed
    if settings.retain_runs_days is not None:
        report.settings.append(f"runs finished over {settings.retain_runs_days:g} days ago")
        cutoff = (now - timedelta(days=settings.retain_runs_days)).isoformat()
        report.runs, report.run_files = _prune_runs(settings.runs_dir, cutoff, dry_run)
    return report


def _open(path: Path) -> sqlite3.Connection:
    from hub_kernel.core.sqlite import connect

    return connect(path, what="store", rows=False)


def _delete(path: Path, table: str, where: str, args: tuple[object, ...],
            dry_run: bool) -> int:
    if not path.exists():
        return 0
    db = _open(path)
    try:
        if dry_run:
            return int(db.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}",  # noqa: S608 - fixed
                                  args).fetchone()[0])
        return db.execute(f"DELETE FROM {table} WHERE {where}", args).rowcount  # noqa: S608 - fixed
    except sqlite3.Error as exc:
        raise HubError(f"{path} cannot be pruned: {exc}") from exc
    finally:
        db.close()


def _prune_stream(path: Path, keep: int, dry_run: bool) -> int | None:
    """Rows removed from one stream store; None when a consumer holds its lock."""
    with _stream_lock(path.with_suffix(".lock")) as free:
        if not free:
            return None
        db = _open(path)
        try:
            count = int(db.execute("SELECT COUNT(*) FROM rows").fetchone()[0])
            excess = max(0, count - keep)
            if dry_run or not excess:
                return excess
            db.execute("BEGIN IMMEDIATE")
            first = db.execute("SELECT MIN(seq) FROM rows").fetchone()[0]
            if first is not None:  # the first number ever held: a resent pruned row stays
                db.execute(        # a duplicate (store.load)
                    "INSERT INTO meta (key, value) VALUES ('first_seq', ?) "
                    "ON CONFLICT(key) DO NOTHING", (str(int(first)),))
            db.execute("DELETE FROM rows WHERE id IN (SELECT id FROM rows ORDER BY id "
                       "LIMIT ?)", (excess,))
            db.execute("COMMIT")
            return excess
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise HubError(f"stream store {path} cannot be pruned: {exc}") from exc
        finally:
            db.close()


@contextlib.contextmanager
def _stream_lock(path: Path) -> Iterator[bool]:
    """The consumer's lock of a stream store, held while pruning it (False: taken)."""
    if fcntl is None:  # pragma: no cover
        yield True
        return
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prune_runs(runs_dir: Path, cutoff: str, dry_run: bool) -> tuple[int, int]:
    path = runs_dir / "history.db"
    if not path.exists():
        return 0, 0
    db = _open(path)
    try:
        old = db.execute("SELECT id, output, html FROM runs WHERE finished_at IS NOT NULL "
                         "AND status != 'running' AND finished_at < ?", (cutoff,)).fetchall()
        files = [Path(f) for _, *paths in old for f in paths if f]
        # only files inside the runs folder: a row naming another path is not followed
        files = [f for f in files if f.resolve().is_relative_to(runs_dir.resolve())
                 and f.is_file()]
        if dry_run:
            return len(old), len(files)
        db.executemany("DELETE FROM runs WHERE id = ?", [(row[0],) for row in old])
    except sqlite3.Error as exc:
        raise HubError(f"run history {path} cannot be pruned: {exc}") from exc
    finally:
        db.close()
    for file in files:
        file.unlink(missing_ok=True)
    return len(old), len(files)
