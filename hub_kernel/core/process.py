"""Is a recorded process still the same running process? (psutil, not /proc parsing.)

Locks, run markers and the scheduler's heartbeat record ``pid`` and ``pid_started`` (the
process's creation time as text); a pid reused by another process has a different creation
time, and a zombie (ended, not yet reaped) counts as ended.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import psutil


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
        now = f"{process.create_time():.2f}"
    except psutil.AccessDenied:
        return True
    except (psutil.Error, ValueError):
        return False
    return not started or now == started


def this_process() -> dict[str, Any]:
    """Who this process is, as recorded by locks, runs and the heartbeat."""
    pid = os.getpid()
    return {"pid": pid, "pid_started": process_start(pid), "host": socket.gethostname()}
