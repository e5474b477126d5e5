"""A recorded process is alive only while the same process runs (pid reuse, zombies)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from hub_kernel.core.process import alive, process_start, this_process


def test_this_process_is_alive_and_another_start_time_is_another_process():
    me = this_process()
    assert me["pid"] == os.getpid() and alive(me["pid"], me["pid_started"])
    assert not alive(me["pid"], f"{float(me['pid_started']) - 3600:.2f}")  # the pid, reused


def test_an_ended_or_zombie_process_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = process_start(child.pid)
    deadline = time.monotonic() + 30
    while alive(child.pid, started) and time.monotonic() < deadline:  # ended, not reaped yet
        time.sleep(0.05)
    assert not alive(child.pid, started)
    child.wait()
    assert not alive(child.pid, started)
    assert not alive(None) and not alive(0)


def test_a_start_time_recorded_by_an_older_hub_is_not_held_against_a_live_process():
    assert alive(os.getpid(), "123456")  # clock ticks since boot, as /proc gave them
