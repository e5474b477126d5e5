"""Chart data and bokeh figures for chart tiles. Pure functions: no widgets, no kernel needed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hub_kernel.exceptions import LayoutError
from hub_kernel.layout import Tile

MAX_POINTS = 2000
MAX_BARS = 20
PALETTE = ("#3b6ea8", "#d9822b", "#4c9a6a", "#b5485d", "#7d5ba6")


def chart_data(frame: pd.DataFrame, tile: Tile) -> dict[str, list[Any]]:
    """The columns a tile's chart draws, computed from ``frame``."""
    missing = [c for c in tile.columns if c not in frame.columns]
    if missing:
        raise LayoutError(f"tile {tile.id!r} shows columns not in the data: {missing}")
    if tile.chart_type == "histogram":
        values = pd.to_numeric(frame[tile.columns[0]], errors="coerce").to_numpy(float)
        values = values[np.isfinite(values)]  # NaN and ±inf cannot be binned
        if values.size == 0:
            return {"left": [], "right": [], "count": []}
        counts, edges = np.histogram(values, bins=min(30, max(5, int(np.sqrt(values.size)))))
        return {"left": edges[:-1].tolist(), "right": edges[1:].tolist(), "count": counts.tolist()}
    if tile.chart_type == "bar":
        counts = frame[tile.columns[0]].astype("string").fillna("(missing)").value_counts()
        if len(counts) > MAX_BARS:
            other = int(counts.iloc[MAX_BARS - 1 :].sum())
            counts = pd.concat([counts.iloc[: MAX_BARS - 1], pd.Series({"(other)": other})])
        return {"category": [str(c) for c in counts.index], "count": counts.astype(int).tolist()}
    if tile.chart_type in ("line", "scatter"):
        if len(tile.columns) == 1:
            x = pd.Series(np.arange(len(frame)), index=frame.index)
            y = frame[tile.columns[0]]
        else:
            x, y = frame[tile.columns[0]], frame[tile.columns[1]]
        data = pd.DataFrame({"x": x, "y": pd.to_numeric(y, errors="coerce")})
        data = data[np.isfinite(data["y"].to_numpy(float))].dropna()
        if tile.chart_type == "line":
            data = data.sort_values("x")
        if len(data) > MAX_POINTS:
            if tile.chart_type == "line":  # keep the shape: mean over equal-sized row bins
                bins = np.arange(len(data)) * MAX_POINTS // len(data)
                data = data.groupby(bins).agg({"x": "first", "y": "mean"})
            else:
                data = data.sample(MAX_POINTS, random_state=0)
        return {"x": data["x"].tolist(), "y": data["y"].tolist()}
    raise LayoutError(f"tile {tile.id!r} has no chart type a chart can draw: {tile.chart_type!r}")


def chart_figure(frame: pd.DataFrame, tile: Tile, height: int = 240) -> Any:
    """A bokeh figure for a chart tile."""
    from bokeh.models import ColumnDataSource, DataRange1d, FactorRange
    from bokeh.plotting import figure

    data = chart_data(frame, tile)
    common: dict[str, Any] = {
        "height": height,
        "sizing_mode": "stretch_width",
        "toolbar_location": None,
        "tools": "pan,wheel_zoom,reset",
    }
    source = ColumnDataSource(data)
    if tile.chart_type == "histogram":
        fig = figure(y_range=DataRange1d(start=0), **common)
        fig.quad(left="left", right="right", top="count", bottom=0, source=source,
                 fill_color=PALETTE[0], line_color="white")
        fig.xaxis.axis_label = tile.columns[0]
        fig.yaxis.axis_label = "rows"
    elif tile.chart_type == "bar":
        fig = figure(x_range=FactorRange(factors=data["category"]), y_range=DataRange1d(start=0),
                     **common)
        fig.vbar(x="category", top="count", width=0.8, source=source, fill_color=PALETTE[1],
                 line_color=None)
        fig.xaxis.major_label_orientation = 0.8 if len(data["category"]) > 6 else 0
        fig.yaxis.axis_label = "rows"
    else:
        is_time = len(tile.columns) == 2 and pd.api.types.is_datetime64_any_dtype(
            frame[tile.columns[0]]
        )
        fig = figure(x_axis_type="datetime" if is_time else "linear", **common)
        if tile.chart_type == "line":
            fig.line(x="x", y="y", source=source, line_color=PALETTE[2], line_width=1.5)
        else:
            fig.scatter(x="x", y="y", source=source, size=4, alpha=0.5, color=PALETTE[3])
        fig.xaxis.axis_label = tile.columns[0] if len(tile.columns) == 2 else "row"
        fig.yaxis.axis_label = tile.columns[-1]
    fig.outline_line_color = None
    fig.grid.grid_line_alpha = 0.4
    return fig
