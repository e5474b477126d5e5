"""The live notebook as a viewer sees it: ``hub serve notebooks/live.ipynb`` in headless Chromium.

The notebook runs its own demo stream in the kernel; the tile must draw and keep updating.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]

TIMEOUT = 90_000  # ms; the first page load starts a kernel and imports pandas and bokeh


def rows_shown(page) -> int:
    text = page.locator(".hub-live-quality .hub-live-rows").inner_text()
    match = re.search(r"([\d,]+) rows", text)
    assert match, text
    return int(match.group(1).replace(",", ""))


def test_live_tile_draws_and_keeps_updating(page, serve_notebook, screenshot):
    server = serve_notebook(REPO / "notebooks" / "live.ipynb", preheat=False)
    server.open(page)
    tile = page.locator(".hub-live")
    tile.wait_for(timeout=TIMEOUT)
    canvas = page.locator(".hub-live .hub-live-chart canvas").first
    canvas.wait_for(timeout=TIMEOUT)
    assert tile.is_visible() and canvas.is_visible()
    page.locator(".hub-live-quality .hub-live-rows").wait_for(timeout=TIMEOUT)

    first_rows, first_pixels = rows_shown(page), canvas.screenshot()
    page.wait_for_timeout(1500)
    second_rows, second_pixels = rows_shown(page), canvas.screenshot()
    assert second_rows > first_rows  # the quality line follows the stream (~20 rows/s)
    assert second_pixels != first_pixels  # and the chart is redrawn with the new rows
    quality = page.locator(".hub-live-quality").inner_text()
    assert "rows/s" in quality and "live" in quality
    assert page.errors == []
    screenshot(page, "live")


def test_the_dashboard_follows_a_stream_as_a_live_tile(page, tmp_path, screenshot):
    from tests.browser.conftest import Server

    server = Server(tmp_path, preheat=False, command=("demo", "--stream", "demo"))
    try:
        server.open(page)
        tile = page.locator(".hub-dashboard .hub-tile--live")
        tile.wait_for(timeout=TIMEOUT)
        canvas = tile.locator(".hub-live-chart canvas").first
        canvas.wait_for(timeout=TIMEOUT)
        tile.locator(".hub-live-quality .hub-live-rows").wait_for(timeout=TIMEOUT)
        assert "Live: live-demo" in tile.locator(".hub-tile-title").inner_text()
        first = rows_shown(page)
        page.wait_for_timeout(1500)
        assert rows_shown(page) > first  # the tile follows the stream inside the dashboard
        # the other tiles are there too: the live tile is one of the agents' tiles
        assert page.locator(".hub-dashboard .hub-tile--overview").count() == 1
        assert page.errors == []
        screenshot(page, "dashboard-live")
    finally:
        server.stop()
