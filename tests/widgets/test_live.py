"""The live tile without a kernel: fed by a real stream from a real local server."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time

import pytest

from hub_kernel.data.stream import StreamSource
from hub_kernel.data.stream.server import DemoStreamServer
from widgets.live import LiveTile, quality_html

pytestmark = pytest.mark.timeout(60)


def wait_for(predicate, timeout: float = 10.0, step=lambda: time.sleep(0.02)) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        step()
    raise AssertionError(f"timed out after {timeout} s")


@pytest.fixture
def stream(tmp_path):
    """A server streaming 300 rows at 200/s and a source on it, not started yet."""
    server = DemoStreamServer(rate=200, loop=False, count=300).start()
    source = StreamSource(server.url, "tile", store_dir=tmp_path, window_rows=1000)
    yield server, source
    source.close()
    server.stop()


def test_the_chart_source_grows_by_streaming_and_rolls_over(stream):
    _server, source = stream
    tile = LiveTile(source, window=100)  # no running loop: rows wait for flush()
    assert "hub-live" in tile._dom_classes and tile.cds is None  # no rows yet
    source.start()
    lengths: list[int] = []
    cds = None
    while source.last_seq != 299:
        time.sleep(0.05)
        tile.flush()
        cds = cds or tile.cds
        lengths.append(len(cds.data["x"]) if cds is not None else 0)
        assert len(lengths) < 400  # bounded
    tile.flush()
    assert cds is not None and tile.cds is cds  # created once, streamed into, never rebuilt
    assert tile.chart is not None and "hub-live-chart" in tile.chart._dom_classes
    lengths.append(len(cds.data["x"]))
    assert lengths == sorted(lengths) and lengths[0] < 100  # grew
    assert lengths[-1] == 100  # then rolled over at the window
    assert cds.data["x"] == [float(s) for s in range(200, 300)]  # x: the sequence number
    assert len(cds.data["y0"]) == 100
    assert "300 rows" in tile._quality.value
    assert "hub-live-quality" in tile._quality._dom_classes
    tile.close()

    later = LiveTile(source, window=20)  # a tile made later starts from the source's window
    assert later.cds.data["x"] == [float(s) for s in range(280, 300)]
    later.close()


def test_rows_from_the_stream_thread_reach_widgets_only_in_the_loop_thread(stream):
    _server, source = stream
    loop = asyncio.new_event_loop()
    try:
        tile = LiveTile(source, window=500, loop=loop, max_updates_per_second=5)
        threads: list[int] = []
        flush = tile.flush

        def recording_flush() -> None:
            threads.append(threading.get_ident())
            flush()

        tile.flush = recording_flush  # type: ignore[method-assign]
        started = time.monotonic()
        source.start()
        loop.run_until_complete(asyncio.sleep(1.0))
        wait_for(lambda: source.last_seq == 299)
        loop.run_until_complete(asyncio.sleep(0.4))
        elapsed = time.monotonic() - started
        assert set(threads) == {threading.get_ident()}  # never the stream's thread
        # batched: about 5 updates a second at most (a slower machine only loosens the bound)
        assert 3 <= tile.updates <= 5 * elapsed + 2
        assert tile.cds.data["x"] == [float(s) for s in range(300)]
        tile.close()
    finally:
        loop.close()


def test_the_quality_line_escapes_what_the_stream_says(stream):
    _server, source = stream
    quality = dataclasses.replace(source.quality(), last_error="<script>alert(1)</script>",
                                  gap_count=2, missing_seqs=5)
    html = quality_html(quality)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "hub-live-rows" in html and "gaps 2 (5 missing)" in html and "hub-live-bad" in html
