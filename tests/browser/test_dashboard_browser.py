"""The dashboard as a viewer sees it: served by ``hub demo``, opened in headless Chromium."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser

TIMEOUT = 90_000  # ms; the first page load starts a kernel and imports pandas and bokeh


def open_dashboard(page, server):
    server.open(page, timeout=TIMEOUT)
    page.locator(".hub-tile").first.wait_for(timeout=TIMEOUT)
    page.locator(".hub-chart canvas").first.wait_for(timeout=TIMEOUT)


def tile_box(page, tile_id):
    return page.locator(f".hub-tile-id--{tile_id}").bounding_box()


def test_dashboard_shows_tiles_and_bokeh_charts(page, demo_server, screenshot):
    screenshot.watch(page)
    open_dashboard(page, demo_server)
    tiles = page.locator(".hub-tile")
    assert tiles.count() >= 6  # the cheap tiles, then the analyses the strategy agent chose
    for kind in ("overview", "chart", "missing"):
        assert page.locator(f".hub-tile--{kind}").first.is_visible()
    assert page.locator("[class*='hub-tile--analysis-']").count() >= 1
    canvases = page.locator(".hub-chart canvas")
    assert canvases.count() >= 4
    assert all(canvases.nth(i).is_visible() for i in range(canvases.count()))
    assert "1,461 rows" in page.locator(".hub-tile--overview").inner_text()
    assert "No missing values" in page.locator(".hub-tile--missing").inner_text()
    assert "No scheduled runs" in page.locator(".hub-runs").inner_text()
    # the grid follows the layout: each tile spans the columns the design agent gave it
    css = page.locator(".hub-positions").inner_html()
    spans = {m[0]: int(m[1]) for m in re.findall(
        r"\.hub-tile-id--([\w-]+) \{ grid-row: \d+ / span \d+; grid-column: \d+ / span (\d+);",
        css)}
    narrow = min(spans, key=spans.get)
    wide = max(spans, key=spans.get)
    column = tile_box(page, narrow)["width"] / spans[narrow]
    assert tile_box(page, wide)["width"] == pytest.approx(spans[wide] * column, rel=0.05)
    assert page.errors == []
    screenshot(page, "loaded")


def first_tile(page):
    """The id of the tile in the first slot (the agents decide which it is)."""
    return page.evaluate("""() => [...document.querySelector('.hub-grid').children[0]
        .classList].find(c => c.startsWith('hub-tile-id--')).slice(13)""")


def test_layout_changes_from_the_page(page, demo_server, screenshot):
    screenshot.watch(page)
    open_dashboard(page, demo_server)
    status = page.locator(".hub-status")
    assert status.inner_text() == "layout v0"
    leader = first_tile(page)
    assert leader != "missing"
    first = tile_box(page, leader)
    missing = tile_box(page, "missing")
    assert missing["y"] > first["y"]

    page.locator(".hub-tile-id--missing .hub-first").click()
    page.wait_for_function("document.querySelector('.hub-status').innerText.includes('v1')")
    moved = tile_box(page, "missing")
    assert (moved["x"], moved["y"]) == pytest.approx((first["x"], first["y"]), abs=2)
    assert first_tile(page) == "missing"
    screenshot(page, "moved")

    narrow = tile_box(page, "cat-weather")["width"]
    page.locator(".hub-tile-id--cat-weather .hub-expand").click()
    page.wait_for_function("document.querySelector('.hub-status').innerText.includes('v2')")
    wide = tile_box(page, "cat-weather")["width"]
    assert wide > 1.4 * narrow  # to the full width (the agent may have planned it 1 or 2 wide)
    page.locator(".hub-tile-id--cat-weather canvas").first.wait_for()
    screenshot(page, "expanded")

    page.locator(".hub-reset").click()
    page.wait_for_function("document.querySelector('.hub-status').innerText.includes('v3')")
    assert first_tile(page) == leader
    assert tile_box(page, leader)["y"] == pytest.approx(first["y"], abs=2)
    assert tile_box(page, "cat-weather")["width"] == pytest.approx(narrow, abs=2)
    assert page.errors == []


def test_hostile_column_names_are_shown_as_text(page, start_server, tmp_path, screenshot):
    data = tmp_path / "hostile.csv"
    data.write_text(
        '"<script>alert(1)</script>","<img src=x onerror=alert(2)>",n\n'
        '"<b>bold</b>",a,1\n"<b>bold</b>",b,\n"x",c,3\n'
    )
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    server = start_server(data, preheat=False)  # the kernel runs after the request
    server.open(page)
    overview = page.locator(".hub-tile--overview")
    overview.wait_for(timeout=TIMEOUT)
    text = overview.inner_text()
    assert "<script>alert(1)</script>" in text
    assert "<img src=x onerror=alert(2)>" in text
    assert "top: <b>bold</b> (2)" in text
    assert page.locator(".hub-tile img").count() == 0
    page.wait_for_timeout(500)
    assert dialogs == []
    screenshot(page, "hostile")


def upload_file(page, path):
    """As a person does: click the upload button, pick the file in the chooser."""
    with page.expect_file_chooser() as chooser:
        page.locator(".hub-upload").click()
    chooser.value.set_files(str(path))


def test_upload_ingests_and_redraws_the_dashboard(page, demo_server, tmp_path, screenshot):
    open_dashboard(page, demo_server)
    data = tmp_path / "shops.csv"
    data.write_text("city,sales,opened\n" + "".join(
        f"{city},{i * 3 % 17 if i % 5 else ''},2024-01-{i % 28 + 1:02d}\n"
        for i, city in enumerate(["Oslo", "Rome", "Lima", "Pune"] * 10)))
    upload_file(page, data)
    status = page.locator(".hub-upload-status")
    status.get_by_text("Stored shops.csv (40 rows").wait_for(timeout=TIMEOUT)
    report = page.locator(".hub-validation-report")
    assert "values of 'sales' are missing" in report.inner_text()
    page.locator(".hub-title").get_by_text("shops.csv").wait_for()
    page.locator(".hub-tile--overview").get_by_text("40 rows").wait_for()
    assert page.locator(".hub-tile-id--cat-city canvas").first.is_visible()
    screenshot(page, "uploaded")

    bad = tmp_path / "broken.csv"
    bad.write_bytes(b"\x00\xff\xfe" * 100)
    upload_file(page, bad)
    status.locator(".hub-error").wait_for(timeout=TIMEOUT)
    assert "broken.csv" in status.inner_text()
    assert page.locator(".hub-tile--overview").get_by_text("40 rows").is_visible()
    assert page.errors == []
