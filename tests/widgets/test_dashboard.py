import re

import numpy as np
import pandas as pd
import pytest

from hub_kernel.layout import Tile
from widgets import Dashboard

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def dashboard(hub_home):
    board = Dashboard.from_path(None)
    yield board
    assert board.wait(120)  # no analysis outlives the test's HUB_HOME


def positions(dashboard):
    css = dashboard._positions.value
    return {m[0]: (int(m[1]), int(m[2]), int(m[3]), int(m[4])) for m in re.findall(
        r"\.hub-tile-id--([\w-]+) \{ grid-row: (\d+) / span (\d+); "
        r"grid-column: (\d+) / span (\d+);", css)}


def tile_ids(dashboard):
    return [view.tile.id for view in dashboard._grid.children]


class button:  # reads as the button a person presses
    def __init__(self, view, action):
        self.view, self.action = view, action

    def click(self):
        self.view.header.click(self.action)


def test_dashboard_renders_the_agents_plan(dashboard):
    assert tile_ids(dashboard) == dashboard.tile_layout.ids == dashboard.plan.layout.ids
    kinds = {view.tile.kind for view in dashboard._grid.children}
    assert {"overview", "chart", "missing"} <= kinds
    assert any(kind.startswith("analysis-") for kind in kinds)
    first = dashboard.tile_layout.tiles[0]  # the grid follows the planned slots and sizes
    assert positions(dashboard)[first.id] == (1, 1, 1, first.width)
    assert {tile: span for tile, (_r, _h, _c, span) in positions(dashboard).items()} == {
        t.id: t.width for t in dashboard.tile_layout}
    assert "repeat(3, minmax(0, 1fr))" in dashboard._positions.value


def test_tile_buttons_change_the_layout_and_the_grid_follows(dashboard):
    views = {v.tile.id: v for v in dashboard._grid.children}
    chart_before = views["cat-weather"]._body.children[0]
    button(views["missing"], "first").click()
    assert tile_ids(dashboard)[0] == "missing"
    assert positions(dashboard)["missing"][:3] == (1, 1, 1)  # first slot, the width it has
    button(views["cat-weather"], "expand").click()
    assert positions(dashboard)["cat-weather"][3] == 3
    assert views["cat-weather"]._body.children[0] is chart_before  # moved, not rebuilt
    assert "layout v2" in dashboard._status.value
    button(views["cat-weather"], "expand").click()
    assert positions(dashboard)["cat-weather"][3] == 1


def test_code_changes_to_the_layout_rerender(dashboard):
    layout = dashboard.tile_layout
    layout.set_chart_type("num-temp_min", "line")
    view = next(v for v in dashboard._grid.children if v.tile.id == "num-temp_min")
    assert view.tile.chart_type == "line"
    layout.remove("overview")
    assert "overview" not in tile_ids(dashboard)
    layout.add(Tile(id="overview", kind="overview", title="Overview", width=3), slot=0)
    assert positions(dashboard)["overview"] == (1, 1, 1, 3)
    dashboard.reset()
    assert tile_ids(dashboard) == dashboard._initial.ids


def test_refused_change_is_shown_not_raised(dashboard):
    views = {v.tile.id: v for v in dashboard._grid.children}
    button(views["overview"], "pin").click()
    button(views["overview"], "dismiss").click()
    assert "pinned" in dashboard._status.value
    assert "overview" in tile_ids(dashboard)


def test_reset_returns_to_the_starting_layout_even_with_pins(dashboard):
    start = dashboard.tile_layout.to_dict()
    views = {v.tile.id: v for v in dashboard._grid.children}
    button(views["missing"], "first").click()
    button(views["missing"], "pin").click()
    dashboard.reset()
    assert dashboard.tile_layout.to_dict() == start


def test_user_text_is_escaped_everywhere():
    frame = pd.DataFrame({
        HOSTILE: ["<b>x</b>", "<img src=x onerror=alert(2)>", "<b>x</b>"],
        "value": [1.0, np.nan, 3.0],
        "when": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
    })
    dashboard = Dashboard(frame, title="<i>title</i>")
    html = [dashboard.children[2].children[0].value]
    for view in dashboard._grid.children:
        html.append(view.header.title)
        body = view._body.children[0]
        if hasattr(body, "value"):
            html.append(body.value)
    page = "\n".join(html)
    assert "<script>" not in page and "<img" not in page and "<i>title" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "top: &lt;b&gt;x&lt;/b&gt; (2)" in page
    assert "value</td><td>1</td>" in page  # missing tile lists the column with a gap


def test_a_tile_that_cannot_be_drawn_shows_why_and_the_rest_still_render(dashboard):
    dashboard.tile_layout.add(Tile(id="ghost", kind="chart", title="ghost",
                                   columns=("no such column",), chart_type="histogram"))
    view = dashboard._views["ghost"]
    assert "cannot be drawn" in view._body.children[0].value
    assert "no such column" in view._body.children[0].value
    assert len(dashboard._grid.children) == len(dashboard.plan.layout) + 1
    assert "hub-tile--failed" in view._dom_classes


def test_odd_data_does_not_break_the_dashboard():
    frame = pd.DataFrame({"x": [np.inf, 1.0, 2.0], "label": ["a", "b", "a"]})
    dashboard = Dashboard(frame)
    assert all("cannot be drawn" not in str(getattr(v._body.children[0], "value", ""))
               for v in dashboard._grid.children)


def test_a_dismissed_tile_comes_back_with_its_chart_and_nothing_the_page_holds_is_closed(
        dashboard):
    views = {v.tile.id: v for v in dashboard._grid.children}
    dismissed = views["cat-weather"]
    chart = dismissed._body.children[0]
    button(dismissed, "dismiss").click()
    assert "cat-weather" not in tile_ids(dashboard)
    # the page may still be building the tile's view: closing its widget then breaks the page
    assert dismissed.comm is not None and chart.comm is not None
    dashboard.reset()
    back = next(v for v in dashboard._grid.children if v.tile.id == "cat-weather")
    assert back is dismissed and back._body.children[0] is chart
