"""One consumer per store, the others follow it: a consumer in another process (a second Voila
kernel), a follower here that sees every row it stores and takes over when it is killed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hub_kernel.data.stream import StreamSource, read_store
from hub_kernel.data.stream.follower import StreamFollower, shared_stream
from hub_kernel.data.stream.server import DemoStreamServer
from hub_kernel.exceptions import StreamBusyError

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
ROOT = Path(__file__).resolve().parents[4]


def wait_for(predicate, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def consumer_process(url: str, store: Path) -> subprocess.Popen[str]:
    """A StreamSource consuming ``url`` into ``store`` in another process (until killed)."""
    script = textwrap.dedent(f"""
        import time
        from hub_kernel.data.stream import StreamSource
        source = StreamSource({url!r}, "s", store_dir={str(store)!r},
                              backoff_initial_seconds=0.05).start()
        print("ready", flush=True)
        while True:
            time.sleep(1)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                               text=True, env=env)
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def stored_count(store: Path) -> int:
    try:
        return len(read_store("s", store))
    except Exception:
        return 0


def seq_of(row: dict) -> int:
    return int(row["seq"])


def test_a_follower_sees_every_row_and_takes_over_from_a_killed_consumer(tmp_path):
    server = DemoStreamServer(rate=100, loop=False, count=800).start()
    consumer = consumer_process(server.url, tmp_path)
    follower = None
    try:
        wait_for(lambda: stored_count(tmp_path) >= 50, what="the consumer's first rows")
        with pytest.raises(StreamBusyError, match="already being consumed"):
            StreamSource(server.url, "s", store_dir=tmp_path)  # plain use: still an error
        follower = shared_stream(server.url, "s", store_dir=tmp_path, window_rows=5_000,
                                 poll_seconds=0.1, takeover_seconds=0.5,
                                 backoff_initial_seconds=0.05)
        assert isinstance(follower, StreamFollower) and follower.following
        seen: list[dict] = []
        window, _ = follower.follow(seen.extend)
        wait_for(lambda: len(window) + len(seen) >= 300, what="followed rows")
        quality = follower.quality()
        assert quality.following and "following the store of another consumer" in \
            quality.summary()
        assert quality.rows_stored >= 300 and quality.rate > 0
        # every row the consumer stored, in order, none twice
        followed = [seq_of(r) for r in window + seen]
        assert followed == list(range(len(followed)))
        assert stored_count(tmp_path) >= len(followed)

        consumer.kill()  # kill -9: the store is released by the kernel, the rows stay
        consumer.wait(10)
        wait_for(lambda: not follower.following, what="the takeover")
        wait_for(lambda: stored_count(tmp_path) == 800, timeout=30, what="all 800 rows")
        time.sleep(0.5)
        stored = read_store("s", tmp_path)["seq"].astype(int).tolist()
        assert stored == list(range(800))  # nothing lost or stored twice across the takeover
        followed = [seq_of(r) for r in window + seen]
        assert followed == list(range(800))  # the subscriber saw each row exactly once
        assert [seq_of(r) for r in follower.window_records()] == list(range(800))
        quality = follower.quality()
        # this process consumed the rest itself (the demo server closes after its 800 rows)
        assert not quality.following and quality.rows_stored == 800
        assert 0 < quality.rows_received < 800
    finally:
        if consumer.poll() is None:
            consumer.kill()
        if follower is not None:
            follower.close()
        server.stop()


def test_a_follower_of_a_redis_group_holds_every_entry_and_takes_over(redis_server, tmp_path):
    server = redis_server()
    r = server.client()
    for seq in range(200):
        r.xadd("sensors", {"seq": str(seq), "temp": str(20 + seq % 7)})
    url = server.url("sensors", group="g")
    consumer = consumer_process(url, tmp_path)
    follower = None
    try:
        wait_for(lambda: stored_count(tmp_path) == 200, what="the consumer's rows")
        follower = shared_stream(url, "s", store_dir=tmp_path, window_rows=5_000,
                                 poll_seconds=0.1, takeover_seconds=0.5)
        assert isinstance(follower, StreamFollower)
        for seq in range(200, 400):  # while both run: the group is not split between them
            r.xadd("sensors", {"seq": str(seq), "temp": "21"})
        wait_for(lambda: len(follower.window_records()) == 400, what="400 entries followed")
        assert [seq_of(row) for row in follower.window_records()] == list(range(400))
        assert "following" in follower.quality().summary()

        consumer.kill()
        consumer.wait(10)
        for seq in range(400, 500):
            r.xadd("sensors", {"seq": str(seq), "temp": "22"})
        wait_for(lambda: not follower.following, what="the takeover")
        wait_for(lambda: stored_count(tmp_path) == 500, timeout=30, what="all 500 entries")
        time.sleep(0.5)
        assert [seq_of(row) for row in follower.window_records()] == list(range(500))
        stored = read_store("s", tmp_path)["seq"].astype(int).tolist()
        assert stored == list(range(500))
        assert r.xpending("sensors", "g")["pending"] == 0  # every entry acknowledged once stored
    finally:
        if consumer.poll() is None:
            consumer.kill()
        if follower is not None:
            follower.close()


def test_a_follower_takes_over_when_the_consumer_closes(tmp_path):
    """The consumer's viewer leaves (its source closes): the follower consumes the rest."""
    server = DemoStreamServer(rate=200, loop=False, count=600, garbage_every=40).start()
    consumer = shared_stream(server.url, "s", store_dir=tmp_path, backoff_initial_seconds=0.05)
    follower = None
    try:
        assert isinstance(consumer, StreamSource)
        wait_for(lambda: consumer.quality().rows_stored >= 20, what="the first rows")
        follower = shared_stream(server.url, "s", store_dir=tmp_path, window_rows=5_000,
                                 poll_seconds=0.1, takeover_seconds=0.3,
                                 backoff_initial_seconds=0.05)
        assert isinstance(follower, StreamFollower)
        seen: list[dict] = []
        window, _ = follower.follow(seen.extend)
        assert len(window) >= 20
        # the garbage frames the consumer counted reach the follower through the store
        wait_for(lambda: follower.quality().garbage_frames >= 2, what="garbage counted")
        assert "garbage frames" in follower.quality().summary()
        consumer.close()
        wait_for(lambda: not follower.following, what="the takeover")
        wait_for(lambda: stored_count(tmp_path) == 600, what="all 600 rows")
        time.sleep(0.5)
        assert read_store("s", tmp_path)["seq"].astype(int).tolist() == list(range(600))
        assert [seq_of(r) for r in window + seen] == list(range(600))
    finally:
        consumer.close()
        if follower is not None:
            follower.close()
        server.stop()
