"""Is a recorded process still the same running process? (psutil, not /proc parsing.)

Locks, run markers and the scheduler's heartbeat record ``pid`` and ``pid_started`` (the
process's creation time as text); a pid reused by another process has a different creation
time, and a zombie (ended, not yet reaped) counts as ended.

psutil derives the creation time from the boot time, which moves when the wall clock is stepped
(NTP), so two readings of one process may differ slightly: they are compared within
``SAME_START_SECONDS``. A value written by hub before it used psutil (clock ticks since boot, no
decimal point) cannot be compared and counts as unknown, as an unreadable start time always did.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import psutil

SAME_START_SECONDS = 1.0


def process_start(pid: int) -> str | None:
    """When ``pid`` was created (seconds since the epoch, as text), ``None`` if it is gone."""
    try:
        return f"{psutil.Process(pid).create_time():.2f}"
    except (psutil.Error, ValueError):
        return None


def alive(pid: int | None, started: str | None = None) -> bool:
    """Whether ``pid`` runs and is the same process (same start time, when known)."""
    if not pid or pid <= 0:
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        now = process.create_time()
    except psutil.AccessDenied:
        return True
    except (psutil.Error, ValueError):
        return False
    return not started or _same_start(started, now)


def _same_start(recorded: str, now: float) -> bool:
    if "." not in recorded:  # clock ticks recorded by an older hub: not comparable
        return True
    try:
        return abs(float(recorded) - now) <= SAME_START_SECONDS
    except ValueError:
        return True


def this_process() -> dict[str, Any]:
    """Who this process is, as recorded by locks, runs and the heartbeat."""
    pid = os.getpid()
    return {"pid": pid, "pid_started": process_start(pid), "host": socket.gethostname()}
