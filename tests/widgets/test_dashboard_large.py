"""The dashboard of a dataset larger than the memory budget: profiled out of core, every tile
saying whether it shows all rows or a sample, and of how many rows."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from widgets import Dashboard

ROWS_PER_FILE, FILES = 30_000, 3


def _texts(widget) -> str:
    """Every piece of HTML a widget and its children show."""
    parts = [widget.value] if isinstance(getattr(widget, "value", None), str) else []
    for child in getattr(widget, "children", ()):
        parts.append(_texts(child))
    return " ".join(parts)


@pytest.fixture
def parquet_folder(tmp_path, hub_home, monkeypatch):
    from hub_kernel.core import config

    rng = np.random.default_rng(11)
    folder = tmp_path / "sensor-readings"
    folder.mkdir()
    for index in range(FILES):
        n = ROWS_PER_FILE
        frame = pd.DataFrame({
            "time": pd.date_range("2024-01-01", periods=n, freq="min")
            + pd.Timedelta(days=21 * index),
            "temperature": 15 + 5 * np.sin(np.arange(n) / 500) + rng.normal(0, 1, n),
            "humidity": rng.uniform(20, 90, n),
            "site": rng.choice(["roof", "cellar", "garden"], n),
        })
        frame.loc[rng.random(n) < 0.05, "humidity"] = np.nan
        frame.to_parquet(folder / f"readings-{index}.parquet", index=False)
    monkeypatch.setenv("HUB_DATASET", str(folder))
    monkeypatch.setenv("HUB_MEMORY_BUDGET_BYTES", "200000")  # the folder is ~3 MB
    config.reload_settings()
    yield folder
    monkeypatch.undo()
    config.reload_settings()


@pytest.mark.slow
def test_a_dashboard_of_data_larger_than_memory_says_what_each_tile_shows(parquet_folder):
    board = Dashboard.from_path(None)  # HUB_DATASET: the folder
    try:
        assert board.wait(240)
        total = ROWS_PER_FILE * FILES
        assert board.profile.out_of_core and board.profile.n_rows == total
        assert len(board.frame) == 50_000 and board.title == "sensor-readings"
        views = list(board._grid.children)
        kinds = {view.tile.kind for view in views}
        assert {"overview", "missing", "chart"} <= kinds
        assert any(kind.startswith("analysis-") for kind in kinds)
        for view in views:
            assert view.state == "ready", view.tile.id
            html = _texts(view._body)
            if view.tile.kind in ("overview", "missing"):  # from the exact profile
                assert f"All {total:,} rows, counted out of core" in html, view.tile.id
                assert "hub-sample-note" not in html
            else:
                notes = re.findall(r"class='hub-sample-note'[^>]*>([^<]*)<", html)
                assert notes == [f"Sample of 50,000 of {total:,} rows (uniform, random); "
                                 "counts of rows and missing values elsewhere are exact."], \
                    view.tile.id
            if view.tile.kind.startswith("analysis-"):  # and in the result's caveats
                assert f"sample of 50,000 of {total:,} rows" in html
        overview = next(v for v in views if v.tile.kind == "overview")
        assert f"<b>{total:,}</b> rows" in _texts(overview._body)
        missing = next(v for v in views if v.tile.kind == "missing")
        exact = sum(pd.read_parquet(p)["humidity"].isna().sum()
                    for p in sorted(parquet_folder.glob("*.parquet")))
        assert f"<td>{exact:,}</td>" in _texts(missing._body)  # counted over every row
    finally:
        board.wait(240)
