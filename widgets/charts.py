"""Chart data and bokeh figures for chart tiles. Pure functions: no widgets, no kernel needed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hub_kernel.exceptions import LayoutError
from hub_kernel.layout import Tile

MAX_POINTS = 2000
MAX_HEX_POINTS = 200_000  # hexbin bins in the kernel; more points only cost time
MAX_OUTLIERS = 200
MAX_BARS = 20
PALETTE = ("#3b6ea8", "#d9822b", "#4c9a6a", "#b5485d", "#7d5ba6")


def _finite(series: pd.Series) -> np.ndarray:
    values = pd.to_numeric(series, errors="coerce").to_numpy(float)
    return values[np.isfinite(values)]  # NaN and ±inf cannot be binned or drawn


def _box(values: np.ndarray) -> dict[str, list[Any]]:
    if values.size == 0:
        return {"q1": [], "q2": [], "q3": [], "lower": [], "upper": [], "outliers": []}
    q1, q2, q3 = np.percentile(values, [25, 50, 75])
    reach = 1.5 * (q3 - q1)
    inside = values[(values >= q1 - reach) & (values <= q3 + reach)]
    outliers = values[(values < q1 - reach) | (values > q3 + reach)]
    if outliers.size > MAX_OUTLIERS:
        outliers = np.random.default_rng(0).choice(outliers, MAX_OUTLIERS, replace=False)
    return {"q1": [float(q1)], "q2": [float(q2)], "q3": [float(q3)],
            "lower": [float(inside.min())], "upper": [float(inside.max())],
            "outliers": sorted(float(v) for v in outliers)}


def _violin(values: np.ndarray) -> dict[str, list[Any]]:
    """A kernel density estimate over the range of ``values`` (scaled to a peak of 1)."""
    if values.size == 0:
        return {"y": [], "density": []}
    low, high = float(values.min()), float(values.max())
    if values.size < 2 or high == low:  # no spread: one line at the value
        return {"y": [low, low], "density": [1.0, 1.0]}
    from scipy.stats import gaussian_kde

    sample = values if values.size <= 20_000 else np.random.default_rng(0).choice(
        values, 20_000, replace=False)
    try:
        kde = gaussian_kde(sample)
    except (np.linalg.LinAlgError, ValueError):  # singular: almost all values equal
        return {"y": [low, high], "density": [1.0, 1.0]}
    pad = 0.05 * (high - low)
    grid = np.linspace(low - pad, high + pad, 120)
    density = kde(grid)
    return {"y": grid.tolist(), "density": (density / density.max()).tolist()}


def _counts(series: pd.Series) -> dict[str, list[Any]]:
    counts = series.astype("string").fillna("(missing)").value_counts()
    if len(counts) > MAX_BARS:
        other = int(counts.iloc[MAX_BARS - 1 :].sum())
        counts = pd.concat([counts.iloc[: MAX_BARS - 1], pd.Series({"(other)": other})])
    return {"category": [str(c) for c in counts.index], "count": counts.astype(int).tolist()}


def chart_data(frame: pd.DataFrame, tile: Tile) -> dict[str, list[Any]]:
    """The columns a tile's chart draws, computed from ``frame``."""
    missing = [c for c in tile.columns if c not in frame.columns]
    if missing:
        raise LayoutError(f"tile {tile.id!r} shows columns not in the data: {missing}")
    if tile.chart_type == "box":
        return _box(_finite(frame[tile.columns[0]]))
    if tile.chart_type == "violin":
        return _violin(_finite(frame[tile.columns[0]]))
    if tile.chart_type in ("bar", "dot"):
        return _counts(frame[tile.columns[0]])
    if tile.chart_type == "hexbin":
        data = pd.DataFrame({"x": pd.to_numeric(frame[tile.columns[0]], errors="coerce"),
                             "y": pd.to_numeric(frame[tile.columns[-1]], errors="coerce")})
        data = data[np.isfinite(data.to_numpy(float)).all(axis=1)]
        if len(data) > MAX_HEX_POINTS:
            data = data.sample(MAX_HEX_POINTS, random_state=0)
        return {"x": data["x"].tolist(), "y": data["y"].tolist()}
    if tile.chart_type == "histogram":
        values = _finite(frame[tile.columns[0]])
        if values.size == 0:
            return {"left": [], "right": [], "count": []}
        counts, edges = np.histogram(values, bins=min(30, max(5, int(np.sqrt(values.size)))))
        return {"left": edges[:-1].tolist(), "right": edges[1:].tolist(), "count": counts.tolist()}
    if tile.chart_type in ("line", "area", "scatter"):
        if len(tile.columns) == 1:
            x = pd.Series(np.arange(len(frame)), index=frame.index)
            y = frame[tile.columns[0]]
        else:
            x, y = frame[tile.columns[0]], frame[tile.columns[1]]
        data = pd.DataFrame({"x": x, "y": pd.to_numeric(y, errors="coerce")})
        data = data[np.isfinite(data["y"].to_numpy(float))].dropna()
        if tile.chart_type != "scatter":
            data = data.sort_values("x")
        if len(data) > MAX_POINTS:
            if tile.chart_type != "scatter":  # keep the shape: mean over equal-sized row bins
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
    # a box's columns differ in length (one box, any number of outliers): no shared source
    source = ColumnDataSource(data) if tile.chart_type != "box" else None
    if tile.chart_type == "histogram":
        fig = figure(y_range=DataRange1d(start=0), **common)
        fig.quad(left="left", right="right", top="count", bottom=0, source=source,
                 fill_color=PALETTE[0], line_color="white")
        fig.xaxis.axis_label = tile.columns[0]
        fig.yaxis.axis_label = "rows"
    elif tile.chart_type == "box":
        fig = figure(x_range=FactorRange(factors=[tile.columns[0]]), **common)
        name = [tile.columns[0]] * len(data["q1"])
        fig.segment(x0=name, y0=data["lower"], x1=name, y1=data["upper"], line_color="#555")
        fig.vbar(x=name, bottom=data["q1"], top=data["q3"], width=0.5, fill_color=PALETTE[0],
                 line_color="#333")
        fig.rect(x=name, y=data["q2"], width=0.5, height=0.001, line_color="white",
                 line_width=2)
        fig.scatter(x=[tile.columns[0]] * len(data["outliers"]), y=data["outliers"], size=4,
                    color=PALETTE[3], alpha=0.6)
        fig.yaxis.axis_label = tile.columns[0]
    elif tile.chart_type == "violin":
        fig = figure(x_range=DataRange1d(start=-1.1, end=1.1), **common)
        xs = [*data["density"], *[-d for d in reversed(data["density"])]]
        ys = [*data["y"], *reversed(data["y"])]
        fig.patch(xs, ys, fill_color=PALETTE[0], fill_alpha=0.6, line_color=PALETTE[0])
        fig.xaxis.visible = False
        fig.yaxis.axis_label = tile.columns[0]
    elif tile.chart_type == "dot":
        factors = list(reversed(data["category"]))
        fig = figure(y_range=FactorRange(factors=factors), x_range=DataRange1d(start=0),
                     **common)
        fig.segment(x0=0, y0="category", x1="count", y1="category", source=source,
                    line_color="#ccd3dc")
        fig.scatter(x="count", y="category", source=source, size=8, color=PALETTE[1])
        fig.xaxis.axis_label = "rows"
    elif tile.chart_type == "hexbin":
        fig = figure(**common)
        x, y = np.asarray(data["x"], float), np.asarray(data["y"], float)
        if x.size:
            wide, tall = max(float(np.ptp(x)), 1e-9), max(float(np.ptp(y)), 1e-9)
            # size is in x units; aspect_scale makes the hexagons fit y's range too
            fig.hexbin(x, y, size=wide / 30, aspect_scale=wide / tall, palette="Blues256",
                       line_color=None)
        fig.xaxis.axis_label = tile.columns[0]
        fig.yaxis.axis_label = tile.columns[-1]
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
        elif tile.chart_type == "area":
            fig.varea(x="x", y1=0, y2="y", source=source, fill_color=PALETTE[2],
                      fill_alpha=0.5)
            fig.line(x="x", y="y", source=source, line_color=PALETTE[2], line_width=1)
        else:
            fig.scatter(x="x", y="y", source=source, size=4, alpha=0.5, color=PALETTE[3])
        fig.xaxis.axis_label = tile.columns[0] if len(tile.columns) == 2 else "row"
        fig.yaxis.axis_label = tile.columns[-1]
    fig.outline_line_color = None
    fig.grid.grid_line_alpha = 0.4
    return fig
