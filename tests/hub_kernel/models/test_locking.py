"""The registry lock (``models.locking``) across real processes: on a shared MLflow server (a
ticket lock of model versions) and on the embedded SQLite store (a flock)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]

# read-modify-write of a model tag, N times, under the lock: any overlap loses an increment
_COUNT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from hub_kernel.models.locking import model_lock
    from hub_kernel.models.registry import ModelRegistry

    name, n, start = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    registry = ModelRegistry()
    client = registry.client
    with model_lock(registry.store, name):
        pass  # first use: the hidden lock model exists
    Path(str(start) + "." + sys.argv[4]).touch()
    while not start.exists():
        time.sleep(0.005)
    for _ in range(n):
        with model_lock(registry.store, name):
            value = int(client.get_registered_model(name).tags.get("count", "0"))
            time.sleep(0.02)  # widen the window a lost update needs
            client.set_registered_model_tag(name, "count", str(value + 1))
    print("done")
""")

_HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from hub_kernel.models.locking import model_lock
    from hub_kernel.models.registry import ModelRegistry

    registry = ModelRegistry()
    with model_lock(registry.store, sys.argv[1]):
        Path(sys.argv[2]).touch()
        time.sleep(300)  # killed here, the lock held
""")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}


@pytest.fixture(params=["server", "embedded"])
def store_home(request):
    return request.getfixturevalue("server_home" if request.param == "server"
                                   else "models_home")


def test_the_lock_keeps_writers_of_other_processes_out(store_home, tmp_path):
    from hub_kernel.models.registry import ModelRegistry

    name, n = f"lock-{uuid.uuid4().hex[:8]}", 8
    ModelRegistry().client.create_registered_model(name)
    start = tmp_path / "go"
    workers = [subprocess.Popen([sys.executable, "-c", _COUNT, name, str(n), str(start),
                                 str(i)], env=_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for i in range(2)]
    deadline = time.monotonic() + 120
    while not all(Path(f"{start}.{i}").exists() for i in range(2)):
        for worker in workers:
            if worker.poll() is not None:
                pytest.fail(f"a worker ended early: {worker.communicate()[1][-3000:]}")
        assert time.monotonic() < deadline, "the workers never got ready"
        time.sleep(0.05)
    start.touch()
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0 and "done" in out, err[-3000:]
    tags = ModelRegistry().client.get_registered_model(name).tags
    assert tags["count"] == str(2 * n)  # no increment lost


def test_a_lock_whose_holder_died_is_taken_over(store_home, tmp_path):
    from hub_kernel.models.locking import model_lock
    from hub_kernel.models.registry import ModelRegistry

    name = f"lock-{uuid.uuid4().hex[:8]}"
    held = tmp_path / "held"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, name, str(held)], env=_env())
    try:
        deadline = time.monotonic() + 120
        while not held.exists():
            assert time.monotonic() < deadline and holder.poll() is None
            time.sleep(0.05)
        registry = ModelRegistry()
        from hub_kernel.exceptions import ModelError

        with pytest.raises(ModelError, match=r"registry lock.* for more than 1 s"), \
                model_lock(registry.store, name, wait=1.0):
            pass  # the holder is alive: the lock is not taken from it
        holder.kill()
        holder.wait(timeout=30)
        started = time.monotonic()
        with model_lock(registry.store, name, wait=30.0):
            pass  # its process is gone: taken over at once, not after the lease
        assert time.monotonic() - started < 10
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
