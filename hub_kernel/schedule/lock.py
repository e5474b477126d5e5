"""File locks that hold across processes: one job never runs twice at once, one scheduler runs.

A ``FileLock`` is ``filelock.FileLock`` (an exclusive ``flock`` on the file). The operating
system releases it when its holder ends, however it ends (``kill -9`` included), so a crash never
leaves a job locked. The holder writes who it is (pid, host, time) into the file, for messages.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import filelock

from hub_kernel.core.process import this_process
from hub_kernel.exceptions import JobRunningError, ScheduleError


def _record_holder(fd: int) -> None:
    """Write who holds the lock into the lock file (called by filelock once it is taken)."""
    info = {**this_process(), "since": datetime.now(UTC).isoformat(timespec="seconds")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)


def _lock(path: Path, **options: Any) -> filelock.FileLock:
    # one object per call (no singleton), usable from any thread (a daemon releases in another),
    # never the "soft" fallback, which a killed holder would leave behind
    return filelock.FileLock(path, thread_local=False, is_singleton=False,
                             fallback_to_soft=False, mode=0o600, **options)


class FileLock:
    """An exclusive, non-reentrant lock on ``path`` (created with its folder when needed)."""

    def __init__(self, path: str | os.PathLike[str], what: str = "lock") -> None:
        self.path = Path(path)
        self.what = what
        self._lock = _lock(self.path, on_acquired=_record_holder)

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def acquire(self, timeout: float = 0.0) -> bool:
        """Take the lock, waiting up to ``timeout`` seconds; ``False`` if another holds it."""
        if self.held:
            raise ScheduleError(f"{self.what} is already held by this object")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock.acquire(timeout=max(timeout, 0.0), poll_interval=0.05)
        except filelock.Timeout:
            return False
        except OSError as exc:
            raise ScheduleError(f"cannot open the lock file {self.path}: {exc.strerror}; check "
                                "that HUB_HOME is writable") from exc
        return True

    def release(self) -> None:
        if not self.held:
            return
        with contextlib.suppress(OSError):  # the next holder writes its own; none is clearer
            self.path.write_bytes(b"")
        self._lock.release(force=True)

    def holder(self) -> dict[str, Any]:
        """What the current (or last) holder wrote: pid, host, since; empty if nothing."""
        try:
            return dict(json.loads(self.path.read_text(encoding="utf-8") or "{}"))
        except (OSError, ValueError):
            return {}

    def is_locked(self) -> bool:
        """Whether another open handle holds the lock now (checked without taking it long)."""
        if self.held:
            return True
        if not self.path.exists():
            return False
        probe = _lock(self.path)
        try:
            probe.acquire(timeout=0)
        except filelock.Timeout:
            return True
        probe.release(force=True)
        return False

    @contextlib.contextmanager
    def hold(self, timeout: float = 0.0) -> Iterator[FileLock]:
        """``with lock.hold():`` raises ``JobRunningError`` when another holder has it."""
        if not self.acquire(timeout):
            who = self.holder()
            since = f" since {who['since']}" if who.get("since") else ""
            raise JobRunningError(
                f"{self.what} is held by process {who.get('pid', '?')} on "
                f"{who.get('host', '?')}{since}; wait for it to finish"
            )
        try:
            yield self
        finally:
            self.release()

    def __del__(self) -> None:  # a lock object dropped while held gives its lock back
        with contextlib.suppress(Exception):
            self.release()
