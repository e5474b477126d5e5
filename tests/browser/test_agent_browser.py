"""The design agent under Voila: feedback, modes, approve, undo, why, per-user memory."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

TIMEOUT = 90_000


def open_as(page, server, user):
    server.open_as(page, user, timeout=TIMEOUT)  # logged in as user: no ?user= in the URL
    page.locator(".hub-tile").first.wait_for(timeout=TIMEOUT)
    page.locator(".hub-chart canvas").first.wait_for(timeout=TIMEOUT)


def drawn_order(page):
    """Tile ids in the order they are drawn, top-left first (grid order is set by CSS, not by
    DOM order)."""
    boxes = {}
    for tile in page.eval_on_selector_all(
            ".hub-grid > .hub-tile",
            "els => els.map(e => [...e.classList].find(c => c.startsWith('hub-tile-id--')))"):
        box = page.locator(f".{tile}").bounding_box()
        boxes[tile.removeprefix("hub-tile-id--")] = (round(box["y"]), round(box["x"]))
    return sorted(boxes, key=boxes.get)


def first_tile(page):
    return drawn_order(page)[0]


def test_thumbs_down_then_undo_in_supervised_mode(page, demo_server, screenshot):
    open_as(page, demo_server, "ann")
    page.locator(".hub-mode select").select_option("supervised")
    target = ".hub-tile-id--num-precipitation"
    for _ in range(2):
        page.locator(f"{target} .hub-down").click()
    page.locator(".hub-rearrange").click()
    page.locator(target).wait_for(state="detached", timeout=30_000)
    # the banner is a separate widget message, drawn just after the grid: wait for it
    banner = page.locator(".hub-banner", has_text="thumbs down")
    banner.wait_for(timeout=30_000)
    assert "thumbs down" in banner.inner_text()
    page.locator(".hub-why-panel").get_by_text("Why did this change?").click()
    why = page.locator(".hub-why")
    why.wait_for()
    assert "removed 'Distribution of precipitation'" in why.inner_text()
    assert "supervised" in why.inner_text()
    screenshot(page, "agent-changed")
    page.locator(".hub-undo").click()
    page.locator(target).wait_for(timeout=30_000)
    assert page.errors == []


def test_the_same_user_comes_back_to_the_learned_layout(page, demo_server, browser, screenshot):
    screenshot.watch(page)
    open_as(page, demo_server, "ava")
    page.locator(".hub-mode select").select_option("supervised")
    target = ".hub-tile-id--num-precipitation"
    for _ in range(2):
        page.locator(f"{target} .hub-down").click()
    page.locator(".hub-rearrange").click()
    page.locator(target).wait_for(state="detached", timeout=30_000)

    later = browser.new_page()  # a second session: another kernel, the same person
    try:
        open_as(later, demo_server, "ava")
        assert later.locator(target).count() == 0
        assert later.locator(".hub-mode select").input_value() == "supervised"
        screenshot(later, "ava-returns")
        other = browser.new_page()
        try:  # another person gets the default mode, not ava's
            open_as(other, demo_server, "bob")
            assert other.locator(".hub-mode select").input_value() == "assisted"
        finally:
            other.close()
    finally:
        later.close()


def test_assisted_mode_waits_for_approval(page, demo_server, screenshot):
    screenshot.watch(page)
    open_as(page, demo_server, "cy")
    assert page.locator(".hub-mode select").input_value() == "assisted"
    start = drawn_order(page)
    assert start[0] != "missing"
    for _ in range(2):
        page.locator(".hub-tile-id--missing .hub-up").click()
    page.locator(".hub-rearrange").click()
    page.locator(".hub-approve").wait_for(timeout=30_000)
    assert drawn_order(page) == start  # nothing changed yet
    screenshot(page, "proposal")
    page.locator(".hub-approve").click()
    page.wait_for_function(
        "document.querySelector('.hub-banner') === null || "
        "!document.querySelector('.hub-approve')", timeout=30_000)
    page.wait_for_timeout(500)
    # approved: the proposal is in force (the learner, which also carries what other viewers
    # taught and may explore, decides the order; two thumbs up lift "missing")
    after = drawn_order(page)
    assert after != start
    assert after.index("missing") < start.index("missing")
    assert page.errors == []


def test_dwell_time_of_visible_tiles_reaches_the_event_store(page, demo_server):
    from hub_kernel.agents.common.events import EventStore

    open_as(page, demo_server, "dana")
    page.locator(".hub-tile-id--overview .hub-overview").click()  # a click on the tile body
    page.wait_for_timeout(6_500)  # the page reports every 5 s
    store = EventStore(demo_server.log.parent / "events.db")
    deadline = 20
    events = []
    while deadline and not any(e.kind == "dwell" for e in events):
        page.wait_for_timeout(1_000)
        deadline -= 1
        events = store.events(user="dana")
    dwell = {e.tile: e.value for e in events if e.kind == "dwell"}
    assert dwell.get("overview", 0) > 1.0  # on screen from the start
    assert any(e.kind == "click" and e.tile == "overview" for e in events)
    assert page.errors == []
