"""The dashboard of a Parquet folder larger than the memory budget, served and opened in
headless Chromium: every data tile says whether it shows all rows or a sample, and of how many."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.browser

TIMEOUT = 120_000  # ms: the kernel profiles the folder out of core before the first tile


@pytest.mark.slow
def test_tiles_of_data_larger_than_memory_say_what_they_show(page, start_server, tmp_path,
                                                            monkeypatch, screenshot):
    rng = np.random.default_rng(2)
    folder = tmp_path / "meter-readings"
    folder.mkdir()
    for index in range(3):
        n = 30_000
        pd.DataFrame({
            "time": pd.date_range("2024-03-01", periods=n, freq="min")
            + pd.Timedelta(days=21 * index),
            "kwh": rng.gamma(2, 1.5, n), "meter": rng.choice(["a", "b", "c"], n),
        }).to_parquet(folder / f"readings-{index}.parquet", index=False)
    monkeypatch.setenv("HUB_MEMORY_BUDGET_BYTES", "200000")  # inherited by the kernels
    server = start_server(folder)
    screenshot.watch(page)
    server.open(page, timeout=TIMEOUT)
    page.locator(".hub-tile--overview").wait_for(timeout=TIMEOUT)
    page.locator(".hub-chart canvas").first.wait_for(timeout=TIMEOUT)
    assert "90,000 rows" in page.locator(".hub-tile--overview").inner_text()
    assert "All 90,000 rows, counted out of core" in page.locator(
        ".hub-tile--overview").inner_text()
    chart = page.locator(".hub-tile--chart").first
    assert "Sample of 50,000 of 90,000 rows" in chart.locator(".hub-sample-note").inner_text()
    analysis = page.locator("[class*='hub-tile--analysis-']").first
    analysis.locator(".hub-caveats").wait_for(timeout=TIMEOUT)  # the result is in
    assert "sample of 50,000 of 90,000 rows" in analysis.inner_text()
    assert page.errors == []
    screenshot(page, "large-data")
