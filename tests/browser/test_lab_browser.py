"""``Dashboard(df)`` in a JupyterLab notebook: a real ``jupyter lab`` server, a cell run as a
person runs it (Shift+Enter), tiles, bokeh canvases and the toolbar in the cell's output."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "hub_kernel" / "data" / "samples" / "seattle-weather.csv"
TIMEOUT = 120_000  # ms: JupyterLab's own page, a kernel start, then pandas and bokeh


def test_dashboard_cell_renders_tiles_charts_and_toolbar(page, lab_server, write_notebook,
                                                         screenshot):
    write_notebook(lab_server.root / "explore.ipynb",
                   "from widgets import Dashboard\nimport pandas as pd\n\n"
                   f"Dashboard(pd.read_csv({str(SAMPLE)!r}, parse_dates=['date']))")
    screenshot.watch(page)
    page.goto(lab_server.notebook_url("explore.ipynb"))
    cell = page.locator(".jp-Notebook .jp-CodeCell").first
    cell.wait_for(timeout=TIMEOUT)
    # the kernel must be connected, else the run is dropped: wait for "Idle", then check the
    # cell's prompt shows it queued or ran ([*] or [1]) and press again if not
    page.locator(".jp-StatusBar-TextItem", has_text="Idle").first.wait_for(timeout=TIMEOUT)
    prompt = cell.locator(".jp-InputPrompt")
    for _attempt in range(4):
        cell.locator(".cm-content").click()
        page.keyboard.press("Shift+Enter")
        try:
            page.wait_for_function("p => /\\[(\\*|\\d+)\\]/.test(p.innerText)",
                                   arg=prompt.element_handle(), timeout=10_000)
            break
        except PlaywrightTimeout:
            continue
    else:
        raise AssertionError("the cell never ran: " + prompt.inner_text())

    output = cell.locator(".jp-OutputArea")
    output.locator(".hub-tile").first.wait_for(timeout=TIMEOUT)
    output.locator(".hub-chart canvas").first.wait_for(timeout=TIMEOUT)
    output.locator(".hub-mode").wait_for(timeout=TIMEOUT)
    tiles = output.locator(".hub-tile")
    assert tiles.count() >= 4
    assert output.locator(".hub-tile--overview").get_by_text("1,461 rows").is_visible()
    canvases = output.locator(".hub-chart canvas")
    assert canvases.count() >= 2 and canvases.first.is_visible()
    assert output.locator(".hub-mode select").is_visible()
    assert output.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']"
                          ).count() == 0, "the cell wrote to stderr"
    screenshot(page, "lab")
    assert page.errors == []
