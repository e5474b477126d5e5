"""The live tile fed by a real Redis stream (a real ``redis-server``): the same chart and quality
line as a WebSocket stream, and the dashboard following ``HUB_STREAM=redis://...``."""

from __future__ import annotations

import json
import time

import pytest

from hub_kernel.data.stream import StreamSource
from tests.redis_server import RedisServer
from widgets.live import LiveTile

pytestmark = pytest.mark.timeout(120)


def wait_for(predicate, timeout: float = 15.0, step=lambda: time.sleep(0.02)) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        step()
    raise AssertionError(f"timed out after {timeout} s")


@pytest.fixture
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"), password="tile-pa55word").start()
    yield server
    server.stop()


def test_the_live_tile_follows_a_redis_stream(redis_server, tmp_path):
    r = redis_server.client()
    for seq in range(300):
        r.xadd("sensors", {"seq": str(seq), "temp": str(20 + seq % 7)})
    source = StreamSource(redis_server.url("sensors", group="tiles"), "sensors",
                          store_dir=tmp_path, window_rows=1000)
    try:
        tile = LiveTile(source, window=100)  # no running loop: rows wait for flush()
        source.start()
        wait_for(lambda: source.quality().rows_stored == 300,
                 step=lambda: (time.sleep(0.05), tile.flush()))
        tile.flush()
        assert tile.cds.data["x"] == [float(s) for s in range(200, 300)]  # x: seq, rolled over
        assert tile.cds.data["y0"][:3] == [float(20 + s % 7) for s in range(200, 203)]
        r.xadd("sensors", {"json": "{not json"})  # garbage: counted in the quality line
        r.xadd("sensors", {"json": json.dumps({"seq": 300, "temp": 21.5})})
        wait_for(lambda: source.quality().rows_stored == 301)
        tile.flush()
        assert tile.cds.data["x"][-1] == 300.0 and len(tile.cds.data["x"]) == 100
        line = tile._quality.value
        assert "301 rows" in line and "garbage frames 1" in line and "● live" in line
        assert "tile-pa55word" not in line  # the last error (the garbage) is in its title
        tile.close()
    finally:
        source.close()


@pytest.mark.slow
def test_the_dashboard_follows_hub_stream_set_to_a_redis_url(redis_server, hub_home,
                                                             monkeypatch, tmp_path):
    from hub_kernel.core import config
    from widgets import Dashboard

    r = redis_server.client()
    for seq in range(50):
        r.xadd("line-1", {"seq": str(seq), "speed": str(seq * 1.5)})
    data = tmp_path / "d.csv"
    data.write_text("a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(40)))
    monkeypatch.setenv("HUB_STREAM", redis_server.url("line-1", group="dashboard"))
    config.reload_settings()
    dashboard = Dashboard.from_path(data)
    (source,) = dashboard._streams.values()
    try:
        live = [v for v in dashboard._views.values() if v.tile.kind == "live"]
        assert len(live) == 1
        body = live[0]._body.children[0]
        assert isinstance(body, LiveTile) and body.source is source
        wait_for(lambda: source.quality().rows_stored == 50, timeout=30)
        body.flush()
        assert body.cds.data["x"] == [float(s) for s in range(50)]
        assert "50 rows" in body._quality.value
        assert "tile-pa55word" not in repr(source) and "***@" in repr(source)
        assert dashboard.wait(120)
        assert r.xpending("line-1", "dashboard")["pending"] == 0  # acknowledged once stored
    finally:
        source.close()
    # nothing hub keeps (stream store, audit log, events, layouts...) holds the password
    holding = [path for path in hub_home.rglob("*")
               if path.is_file() and b"tile-pa55word" in path.read_bytes()]
    assert holding == []
    assert (hub_home / "streams" / "live-demo.sqlite").exists() and (hub_home / "audit.db").exists()
