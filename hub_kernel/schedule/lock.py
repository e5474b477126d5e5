"""File locks that hold across processes: one job never runs twice at once, one scheduler runs.

A ``FileLock`` is an exclusive ``flock`` on a file. The operating system releases it when its
holder ends, however it ends (``kill -9`` included), so a crash never leaves a job locked. The
holder writes who it is (pid, host, time) into the file, for messages.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub_kernel.exceptions import JobRunningError, ScheduleError


def process_start(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot (Linux), else ``None``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].startswith("Z")


def alive(pid: int | None, started: str | None = None) -> bool:
    """Whether ``pid`` runs and is the same process (same start time, when known); a zombie
    (ended, not yet reaped) counts as ended."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if _zombie(pid):
        return False
    if started:
        now = process_start(pid)
        return now is None or now == started
    return True


def this_process() -> dict[str, Any]:
    """Who this process is, as recorded by locks, runs and the heartbeat."""
    pid = os.getpid()
    return {"pid": pid, "pid_started": process_start(pid), "host": socket.gethostname()}


class FileLock:
    """An exclusive, non-reentrant lock on ``path`` (created with its folder when needed)."""

    def __init__(self, path: str | os.PathLike[str], what: str = "lock") -> None:
        self.path = Path(path)
        self.what = what
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, timeout: float = 0.0) -> bool:
        """Take the lock, waiting up to ``timeout`` seconds; ``False`` if another holds it."""
        if self._fd is not None:
            raise ScheduleError(f"{self.what} is already held by this object")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ScheduleError(f"cannot open the lock file {self.path}: {exc.strerror}; check "
                                "that HUB_HOME is writable") from exc
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(0.05)
        self._fd = fd
        info = {**this_process(), "since": datetime.now(UTC).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def holder(self) -> dict[str, Any]:
        """What the current (or last) holder wrote: pid, host, since; empty if nothing."""
        try:
            return dict(json.loads(self.path.read_text(encoding="utf-8") or "{}"))
        except (OSError, ValueError):
            return {}

    def is_locked(self) -> bool:
        """Whether another open handle holds the lock now (checked without taking it long)."""
        if self._fd is not None:
            return True
        if not self.path.exists():
            return False
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops a shared lock taken above
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
