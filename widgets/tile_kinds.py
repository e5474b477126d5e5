"""Tile kinds: a registry from a tile's kind to the function that draws its body.

A renderer is ``render(ctx: TileContext) -> ipywidgets.Widget``. Built in: ``overview``,
``chart``, ``missing``, ``runs``, ``live`` (a stream's rolling window), ``model``
(``widgets.model_tile:render``, imported on first use) and every ``analysis-<name>`` kind,
drawn by one generic renderer from the analysis result: its facts as sentences, its chart with
bokeh, its caveats. Plug-ins register more kinds with ``tile_kinds.register(render, "kind")``
or a ``"module:function"`` string.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as w
import pandas as pd

from hub_kernel.core.registry import Registry
from hub_kernel.exceptions import HubError, LayoutError
from hub_kernel.layout import ANALYSIS_PREFIX, Tile
from widgets.background import AnalysisJobs
from widgets.markup import escape
from widgets.retire import replace_children

logger = logging.getLogger("hub_kernel")
#: a tile state the root element shows as class ``hub-tile--STATE``
State = Callable[[str], None]  # "pending" | "failed" | "ready"
MAX_FACTS = 6


@dataclass
class TileContext:
    """What a renderer may use: the tile, the data, who is looking, and ways to report."""

    tile: Tile
    frame: pd.DataFrame
    profile: Any
    target: str | None = None
    user: str = ""
    dashboard: str = ""
    session: Any = None  # the DashboardSession (None: nothing is recorded)
    jobs: AnalysisJobs | None = None
    state: State = field(default=lambda _s: None)
    stream: Any = None  # the StreamSource of a live tile

    def report(self, kind: str, value: float = 1.0) -> None:
        """Record an event of ``kind`` for this tile through the session."""
        if self.session is None:
            return
        try:
            self.session.interact(self.tile.id, kind, value)
        except HubError as exc:
            logger.warning("could not record %s for tile %s: %s", kind, self.tile.id, exc)

    def quality(self, value: float) -> None:
        """Record the statistical support of what this tile shows (0..1), when the session
        keeps it."""
        record = getattr(self.session, "record_quality", None)
        if record is None:
            return
        try:
            record(self.tile.id, float(value))
        except HubError as exc:
            logger.warning("could not record the quality of tile %s: %s", self.tile.id, exc)


def _as_renderer(part: Any) -> Any:
    if callable(part) or (isinstance(part, str) and ":" in part):
        return part
    from hub_kernel.exceptions import RegistryError

    raise RegistryError(f"{part!r} is not a tile renderer: give a function render(ctx) or a "
                        "'module:function' string")


tile_kinds: Registry[Any] = Registry("tile kind", check=_as_renderer)


def renderer_for(kind: str) -> Callable[[TileContext], w.Widget]:
    """The renderer of tile ``kind`` (analysis kinds share one); a ``"module:function"``
    registration is imported now."""
    name = "analysis" if kind.startswith(ANALYSIS_PREFIX) and kind not in tile_kinds else kind
    if name not in tile_kinds:
        raise LayoutError(f"no renderer for tile kind {kind!r}; known kinds: "
                          f"{', '.join(tile_kinds.names())}, analysis-<name>")
    part = tile_kinds.get(name)
    if isinstance(part, str):
        module, _, attribute = part.partition(":")
        try:
            return getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as exc:
            raise LayoutError(f"tile kind {kind!r} needs {part}, which cannot be loaded: "
                              f"{exc}") from exc
    return part


#: tile kinds drawn from the profile alone: exact even when the data is larger than memory
EXACT_KINDS = ("overview", "missing")
#: tile kinds that do not show the dataset's rows
NO_DATA_KINDS = ("runs", "live")


def data_note(ctx: TileContext) -> w.HTML | None:
    """What a tile of data profiled out of core says about the rows it shows: the sample
    (``hub-sample-note``: "Sample of 50,000 of 11,000,000 rows") or every row
    (``hub-exact-note``); None for data read whole."""
    profile = ctx.profile
    if not getattr(profile, "out_of_core", False) or ctx.tile.kind in NO_DATA_KINDS:
        return None
    if ctx.tile.kind in EXACT_KINDS:
        text = (f"All {profile.n_rows:,} rows, counted out of core; distinct counts over "
                "100,000 are estimates.")
        css = "hub-exact-note"
    elif len(ctx.frame) < profile.n_rows:
        text = (f"Sample of {len(ctx.frame):,} of {profile.n_rows:,} rows (uniform, "
                "random); counts of rows and missing values elsewhere are exact.")
        css = "hub-sample-note"
    else:
        return None
    return w.HTML(f"<p class='{css}' style='color:#6b7280;font-size:0.85em;margin:2px 0'>"
                  f"{escape(text)}</p>")


def render(ctx: TileContext) -> w.Widget:
    """The body of ``ctx.tile`` (and, for data larger than memory, its ``data_note``)."""
    body = renderer_for(ctx.tile.kind)(ctx)
    note = data_note(ctx)
    return body if note is None else w.VBox([note, body], layout=w.Layout(width="100%"))


# -- built-in kinds --------------------------------------------------------------------------
def render_overview(ctx: TileContext) -> w.Widget:
    from widgets.summaries import overview_html

    return w.HTML(overview_html(ctx.profile))


def render_missing(ctx: TileContext) -> w.Widget:
    from widgets.summaries import missing_html

    return w.HTML(missing_html(ctx.profile))


def render_chart(ctx: TileContext) -> w.Widget:
    from widgets.charts import chart_figure

    return bokeh_widget(chart_figure(ctx.frame, ctx.tile, height=240 * ctx.tile.height))


def render_runs(ctx: TileContext) -> w.Widget:
    from widgets.runs import RunHistoryTile

    return RunHistoryTile(limit=10)


def render_live(ctx: TileContext) -> w.Widget:
    from widgets.live import LiveTile

    if ctx.stream is None:
        raise LayoutError(f"tile {ctx.tile.id!r} is a live tile but the dashboard follows no "
                          "stream; give Dashboard(..., streams=[source])")
    return LiveTile(ctx.stream, title="", height=220 * ctx.tile.height)


def bokeh_widget(fig: Any) -> w.Widget:
    """A bokeh figure as a widget (class ``hub-chart``)."""
    from jupyter_bokeh import BokehModel

    from widgets.bokehjs import ensure_bokehjs

    ensure_bokehjs()
    model = BokehModel(fig, layout=w.Layout(width="100%"))
    model.add_class("hub-chart")
    return model


def error_widget(message: str) -> w.HTML:
    """A tile body that says why the tile cannot be shown (class ``hub-error``)."""
    return w.HTML(f"<p class='hub-error' style='color:#b5485d'>{escape(message)}</p>")


# -- analysis tiles --------------------------------------------------------------------------
def support(result: Any) -> float | None:
    """The statistical support of an analysis result in [0, 1], its p-values corrected for
    the comparisons it made (``hub_kernel.analyses.findings.support``; ``None``: it makes no
    test)."""
    from hub_kernel.analyses.findings import support as corrected_support

    value = corrected_support(result)
    return None if value is None else min(1.0, max(0.0, float(value)))


def leading_facts(result: Any) -> list[Any]:
    """The facts a tile shows, key findings first (ranked by effect size and corrected
    support, ``hub_kernel.analyses.findings.key_findings``), then the others in the analysis's
    order."""
    from hub_kernel.analyses.findings import key_findings

    lead = [fact for finding in key_findings(result, limit=None) for fact in finding.facts]
    seen = {id(f) for f in lead}
    return lead + [f for f in result.facts if id(f) not in seen]


def analysis_html(result: Any) -> str:
    """The facts (as sentences) and caveats of an analysis result, escaped."""
    facts = leading_facts(result)
    items = "".join(f"<li class='hub-fact'>{escape(getattr(f, 'text', str(f)))}</li>"
                    for f in facts[:MAX_FACTS])
    more = (f"<p class='hub-more'>and {len(facts) - MAX_FACTS:,} more findings</p>"
            if len(facts) > MAX_FACTS else "")
    body = (f"<ul class='hub-facts'>{items}</ul>{more}" if items else
            "<p class='hub-facts-none'>Nothing to report on this data.</p>")
    caveats = "".join(f"<li>{escape(c)}</li>" for c in result.caveats)
    if caveats:
        body += f"<ul class='hub-caveats' style='color:#6b7280'>{caveats}</ul>"
    return f"<div class='hub-analysis'>{body}</div>"


def analysis_body(result: Any, title: str = "") -> list[w.Widget]:
    """The widgets of an analysis result: its sentences and caveats, then its chart."""
    parts: list[w.Widget] = [w.HTML(analysis_html(result))]
    if result.chart:
        from hub_kernel.reports.charts import figure_for

        try:
            fig = figure_for(result.chart, "")
            fig.sizing_mode = "stretch_width"
            parts.append(bokeh_widget(fig))
        except Exception as exc:  # the facts still stand without the chart
            logger.warning("the chart of %s cannot be drawn: %s", result.name, exc)
            parts.append(error_widget(f"The chart cannot be drawn: {exc}"))
    return parts


def _progress(name: str) -> tuple[w.Widget, Callable[[float], None]]:
    bar = w.FloatProgress(value=0, min=0, max=1, bar_style="info",
                          layout=w.Layout(width="60%"))
    label = w.HTML(f"<span>Running {escape(name)}…</span>")
    box = w.HBox([bar, label], layout=w.Layout(align_items="center"))
    box.add_class("hub-progress")

    def tick(seconds: float) -> None:
        bar.value = 1 - 1 / (1 + seconds / 5)  # no estimate of the total: creeps towards 1
        label.value = f"<span>Running {escape(name)}… {seconds:.0f} s</span>"

    return box, tick


def render_analysis(ctx: TileContext) -> w.Widget:
    """One renderer for every catalog analysis: a progress indicator now, the result's facts,
    chart and caveats when its background run ends (or its error)."""
    name = ctx.tile.analysis or ""
    body = w.VBox(layout=w.Layout(width="100%"))
    if ctx.jobs is None:
        raise LayoutError(f"tile {ctx.tile.id!r} shows an analysis but the dashboard runs none")
    progress, tick = _progress(name)
    replace_children(body, [progress])
    ctx.state("pending")
    finished = False
    computed_before = name in ctx.jobs and ctx.jobs.ended(name)  # re-drawn: counted once

    def done(result: Any, error: BaseException | None, seconds: float) -> None:
        nonlocal finished
        finished = True
        if not computed_before:
            ctx.report("compute", round(seconds, 4))
        if error is not None:
            ctx.state("failed")
            replace_children(body, [error_widget(f"This analysis failed: {error}")])
            return
        try:
            replace_children(body, analysis_body(result, ctx.tile.title))
        except Exception as exc:
            logger.exception("analysis tile %s cannot be drawn", ctx.tile.id)
            ctx.state("failed")
            replace_children(body, [error_widget(f"This tile cannot be drawn: {exc}")])
            return
        ctx.state("ready")
        value = support(result)
        if value is not None:
            ctx.quality(value)

    ctx.jobs.submit(name, done)
    if not finished:
        _keep_ticking(ctx.jobs, name, tick, lambda: finished)
    return body


def _keep_ticking(jobs: AnalysisJobs, name: str, tick: Callable[[float], None],
                  finished: Callable[[], bool]) -> None:
    """Update the elapsed seconds once a second until the analysis ends."""
    import threading

    def loop() -> None:
        while not finished() and not jobs.ended(name):
            elapsed = jobs.elapsed(name)
            if elapsed is not None:
                tick(elapsed)
            time.sleep(1.0)

    threading.Thread(target=loop, name="hub-progress", daemon=True).start()


for _kind, _render in (("overview", render_overview), ("chart", render_chart),
                       ("missing", render_missing), ("runs", render_runs), ("live", render_live),
                       ("analysis", render_analysis), ("model", "widgets.model_tile:render")):
    tile_kinds.register(_render, _kind)
