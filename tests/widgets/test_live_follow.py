"""Two dashboards on one HUB_HOME following one ``HUB_STREAM`` (two Voila kernels: a second
viewer, a preheated kernel): both build, one consumes, the other follows the store, both live
tiles advance, and the follower takes over when the consumer's process dies."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hub_kernel.data.stream.follower import StreamFollower
from tests.redis_server import RedisServer
from widgets.live import LiveTile, quality_html

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate, timeout: float = 30.0, step=lambda: time.sleep(0.05)) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        step()
    raise AssertionError(f"timed out after {timeout} s")


@pytest.fixture
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


def live_tile_of(dashboard) -> LiveTile:
    (view,) = [v for v in dashboard._views.values() if v.tile.kind == "live"]
    tile = view._body.children[0]
    assert isinstance(tile, LiveTile)
    return tile


def test_two_dashboards_on_one_stream_both_follow_it(redis_server, hub_home, monkeypatch,
                                                     tmp_path):
    from hub_kernel.core import config
    from widgets import Dashboard

    r = redis_server.client()
    for seq in range(50):
        r.xadd("line-1", {"seq": str(seq), "speed": str(seq * 1.5)})
    data = tmp_path / "d.csv"
    data.write_text("a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(40)))
    url = redis_server.url("line-1", group="dashboard")
    script = textwrap.dedent(f"""
        import time
        from widgets import Dashboard
        dashboard = Dashboard.from_path({str(data)!r})
        (view,) = [v for v in dashboard._views.values() if v.tile.kind == "live"]
        tile = view._body.children[0]
        while True:
            tile.flush()
            print(len(tile.cds.data["x"]) if tile.cds is not None else 0, flush=True)
            time.sleep(0.2)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HUB_HOME": str(hub_home),
           "HUB_STREAM": url}
    other = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                             env=env)
    seen_there: list[int] = []

    def other_rows() -> int:
        assert other.stdout is not None
        line = other.stdout.readline()
        assert line, "the other dashboard's process ended"
        seen_there.append(int(line))
        return seen_there[-1]

    dashboard = None
    try:
        wait_for(lambda: other_rows() == 50, timeout=60, step=lambda: None)  # it consumes
        monkeypatch.setenv("HUB_STREAM", url)
        config.reload_settings()
        dashboard = Dashboard.from_path(data)  # this kernel's stream is taken: it follows
        tile = live_tile_of(dashboard)
        assert isinstance(tile.source, StreamFollower) and tile.source.following
        tile.flush()
        assert tile.cds.data["x"] == [float(s) for s in range(50)]
        for seq in range(50, 80):  # both tiles advance with the new rows, all of them
            r.xadd("line-1", {"seq": str(seq), "speed": "1.0"})
        wait_for(lambda: other_rows() == 80, step=lambda: None)
        wait_for(lambda: tile.flush() or len(tile.cds.data["x"]) == 80)
        assert tile.cds.data["x"] == [float(s) for s in range(80)]
        line = quality_html(tile.source.quality())
        assert "80 rows" in line and "following the store of another consumer" in line

        other.kill()  # that viewer's kernel is culled: this one consumes from now on
        other.wait(10)
        for seq in range(80, 90):
            r.xadd("line-1", {"seq": str(seq), "speed": "2.0"})
        wait_for(lambda: tile.flush() or len(tile.cds.data["x"]) == 90)
        assert tile.cds.data["x"] == [float(s) for s in range(90)]
        assert not tile.source.following
        assert r.xpending("line-1", "dashboard")["pending"] == 0
    finally:
        if other.poll() is None:
            other.kill()
        if dashboard is not None:
            for source in dashboard._streams.values():
                source.close()
