"""Static bokeh charts for exported reports, from an analysis's chart spec.

``chart_html(spec)`` gives the ``<div>`` and ``<script>`` of a standalone bokeh document
(``bokeh.embed.components``); BokehJS itself is put once into the exported page by hub's
template (inline: reports are read offline). Bokeh escapes text in its JSON and draws labels on a
canvas, so names from the data cannot inject markup. bokeh is imported inside the functions.
"""

from __future__ import annotations

import logging
from typing import Any

from hub_kernel.exceptions import ReportError

logger = logging.getLogger("hub_kernel")

WIDTH, HEIGHT = 680, 280
PALETTE = ("#1f5f8b", "#b5485d", "#4d9078", "#e0a458", "#7b6d8d", "#5c8001", "#8d6a9f",
           "#c84c09")


def _label(spec: dict[str, Any], axis: str) -> str:
    return str(spec.get(f"{axis}_label") or "")


def figure_for(spec: dict[str, Any], title: str = "") -> Any:
    """A bokeh figure for ``spec`` (``{"type": "bar|line|histogram|scatter|heatmap", ...}``)."""
    from bokeh.models import ColumnDataSource, FactorRange
    from bokeh.plotting import figure

    kind = spec.get("type")
    x, y = list(spec.get("x") or []), list(spec.get("y") or [])
    common: dict[str, Any] = {"width": WIDTH, "height": HEIGHT, "title": title,
                              "toolbar_location": None, "sizing_mode": "fixed"}
    if kind == "bar":
        labels = [str(v) for v in x]
        fig = figure(x_range=FactorRange(factors=labels), **common)
        fig.vbar(x=labels, top=y, width=0.8, color=PALETTE[0])
        fig.xaxis.major_label_orientation = 0.8 if len(labels) > 6 else 0
    elif kind == "histogram":
        fig = figure(**common)
        edges = list(spec.get("edges") or [])
        if len(edges) == len(y) + 1:
            fig.quad(left=edges[:-1], right=edges[1:], bottom=0, top=y, color=PALETTE[0],
                     line_color="white")
        else:
            fig.vbar(x=x, top=y, width=_step(x) * 0.9, color=PALETTE[0])
    elif kind == "line":
        dates = _dates(x)
        fig = figure(x_axis_type="datetime" if dates is not None else "linear", **common)
        xs = dates if dates is not None else x
        fig.line(xs, y, color=PALETTE[0], line_width=1.5,
                 legend_label=str(spec.get("column") or spec.get("y_label") or "value"))
        for i, (name, values) in enumerate(dict(spec.get("series") or {}).items()):
            fig.line(xs, list(values), color=PALETTE[(i + 1) % len(PALETTE)], line_width=2,
                     line_dash="dashed", legend_label=str(name))
        fig.legend.location = "top_left"
    elif kind == "scatter":
        fig = figure(**common)
        colors = spec.get("color")
        if colors:
            groups = sorted({str(c) for c in colors})
            for i, group in enumerate(groups):
                pick = [j for j, c in enumerate(colors) if str(c) == group]
                source = ColumnDataSource({"x": [x[j] for j in pick], "y": [y[j] for j in pick]})
                fig.scatter("x", "y", source=source, size=4, alpha=0.6,
                            color=PALETTE[i % len(PALETTE)], legend_label=group)
        else:
            fig.scatter(x, y, size=4, alpha=0.6, color=PALETTE[0])
    elif kind == "heatmap":
        from bokeh.transform import linear_cmap

        xs, ys = [str(v) for v in x], [str(v) for v in y]
        z = spec.get("z") or []
        cells = {"x": [], "y": [], "z": []}  # type: dict[str, list[Any]]
        for i, row_label in enumerate(ys):
            for j, col_label in enumerate(xs):
                value = z[i][j] if i < len(z) and j < len(z[i]) else None
                cells["x"].append(col_label)
                cells["y"].append(row_label)
                cells["z"].append(float("nan") if value is None else float(value))
        fig = figure(x_range=FactorRange(factors=xs),
                     y_range=FactorRange(factors=list(reversed(ys))), **common)
        fig.rect("x", "y", 1, 1, source=ColumnDataSource(cells),
                 fill_color=linear_cmap("z", "RdBu11", -1, 1), line_color=None)
        fig.xaxis.major_label_orientation = 0.8
    else:
        raise ReportError(f"cannot draw a chart of type {kind!r}")
    fig.xaxis.axis_label = _label(spec, "x")
    fig.yaxis.axis_label = _label(spec, "y")
    return fig


def _step(x: list[Any]) -> float:
    try:
        return float(x[1]) - float(x[0]) if len(x) > 1 else 1.0
    except (TypeError, ValueError):
        return 1.0


def _dates(x: list[Any]) -> list[Any] | None:
    if not x or not isinstance(x[0], str):
        return None
    import pandas as pd

    try:
        return list(pd.to_datetime(x))
    except (ValueError, TypeError):
        return None


def chart_html(spec: dict[str, Any], title: str = "") -> str:
    """``<div>`` and ``<script>`` of the chart (needs BokehJS on the page); ``""`` if the spec
    cannot be drawn (logged)."""
    from bokeh.embed import components

    try:
        fig = figure_for(spec, title)
    except Exception as exc:
        logger.warning("report chart %r not drawn: %s", spec.get("type"), exc)
        return ""
    script, div = components(fig)
    return f"<div class='hub-chart'>{div}{script}</div>"


def bokehjs_inline() -> str:
    """BokehJS as inline ``<script>`` tags (the page must work offline)."""
    from bokeh.resources import Resources

    # the core library draws every chart hub makes (no widgets, tables, GL or MathJax)
    return str(Resources(mode="inline", components=["bokeh"]).render_js())
