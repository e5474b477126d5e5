"""A live tile: a bokeh chart of a ``StreamSource``'s rolling window and a quality line.

The chart's ``ColumnDataSource`` is created once and grown with ``.stream(rows, rollover=window)``,
so only new rows travel to the page. Rows arrive in the stream's thread; widgets are touched only
in the thread of the event loop captured at construction (the kernel's), where updates are
batched to at most ``max_updates_per_second``. Without a running loop (plain Python, tests) the
tile buffers rows until ``flush()`` is called.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import ipywidgets as w

from hub_kernel.data.stream import (
    Row,
    StreamFollower,
    StreamQuality,
    StreamSource,
    event_time_seconds,
    shared_stream,
)
from widgets.bokehjs import ensure_bokehjs
from widgets.charts import PALETTE
from widgets.markup import escape
from widgets.retire import replace_children

logger = logging.getLogger("hub_kernel")

STYLE = """<style>
.hub-live { font-family: system-ui, sans-serif; border: 1px solid #d7dde5; border-radius: 8px;
            padding: 8px 10px; background: #fff; box-sizing: border-box; }
.hub-live-title { font-weight: 600; }
.hub-live-quality { font-size: 12px; color: #445; }
.hub-live-quality .hub-live-bad { color: #b5485d; font-weight: 600; }
</style>"""
QUALITY_REFRESH_SECONDS = 1.0


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def quality_html(quality: StreamQuality) -> str:
    """The quality line: rows, rate, lag, gaps, schema violations, garbage, connection."""

    def flag(count: int, text: str) -> str:
        css = " class='hub-live-bad'" if count else ""
        return f"<span{css}>{escape(text)}</span>"

    lag = "–" if quality.lag_seconds is None else f"{quality.lag_seconds:,.2f} s"
    state = "● live" if quality.connected else "○ reconnecting"
    if quality.following:  # another kernel consumes; its connection is not seen from here
        state = "◐ following the store of another consumer"
    parts = [
        f"<span class='hub-live-rows'>{quality.rows_stored:,} rows</span>",
        f"<span class='hub-live-rate'>{quality.rate:,.1f} rows/s</span>",
        f"<span class='hub-live-lag'>lag {escape(lag)}</span>",
        flag(quality.gap_count, f"gaps {quality.gap_count:,} ({quality.missing_seqs:,} missing)"),
        flag(quality.schema_violations, f"schema violations {quality.schema_violations:,}"),
        flag(quality.garbage_frames, f"garbage frames {quality.garbage_frames:,}"),
        f"<span>missing values {quality.missing_fraction:.1%}</span>",
        f"<span class='hub-live-state'>{state}</span>",
    ]
    note = quality.last_error
    if quality.following and not note:
        note = ("another process consumes this stream; this tile reads the rows it stores "
                "(its connection and reconnects are not seen from here)")
    title = f" title='{escape(note)}'" if note else ""
    return f"<div{title}>" + " · ".join(parts) + "</div>"


class LiveTile(w.VBox):
    """A live chart of ``source``: ``y`` columns (default: the first numeric field) against
    ``x`` (default: the source's time field, else its sequence field, else arrival order)."""

    def __init__(self, source: StreamSource | StreamFollower, *,
                 y: str | Sequence[str] | None = None, x: str | None = None,
                 title: str | None = None, window: int | None = None,
                 height: int = 260, max_updates_per_second: float = 5.0,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.source = source
        self.window = window or source.window_size
        self._y = [y] if isinstance(y, str) else (list(y) if y is not None else None)
        self._x = x
        self._height = height
        self._min_interval = 1.0 / max_updates_per_second
        self._loop = loop if loop is not None else self._running_loop()
        self._lock = threading.Lock()
        self._pending: deque[Row] = deque(maxlen=self.window)  # rows the chart has not shown
        self._scheduled = False
        self._last_flush = 0.0
        self._n = 0  # rows seen, the x of sources without time or sequence fields
        self._closed = False
        self.updates = 0  # chart updates sent (for tests and diagnostics)
        self.cds: Any = None
        self.chart: w.Widget | None = None
        ensure_bokehjs()  # during cell execution: BokehJS must be on the page first

        self._quality = w.HTML()
        self._quality.add_class("hub-live-quality")
        self._body = w.Box([w.HTML("<i>waiting for rows…</i>")], layout=w.Layout(width="100%"))
        header = w.HTML(f"<span class='hub-live-title'>{escape(title or source.name)}</span>")
        super().__init__([w.HTML(STYLE), header, self._body, self._quality],
                         layout=w.Layout(width="100%"))
        self.add_class("hub-live")
        with self._lock:  # rows stored meanwhile queue up behind the window, in order
            recent, self._unsubscribe = source.follow(self._on_rows)
            self._pending.extend(recent[-self.window:])
        self.flush()
        if self._loop is not None:
            self._loop.call_later(QUALITY_REFRESH_SECONDS, self._tick)

    @staticmethod
    def _running_loop() -> asyncio.AbstractEventLoop | None:
        try:
            return asyncio.get_running_loop()  # a Jupyter kernel runs cells inside its loop
        except RuntimeError:
            return None

    # ---- any thread -------------------------------------------------------------------------

    def _on_rows(self, rows: list[Row]) -> None:
        """Called in the stream's thread: queue rows and ask the loop for one flush."""
        with self._lock:
            self._pending.extend(rows)
            if self._scheduled or self._loop is None or self._closed:
                return
            self._scheduled = True
        try:
            self._loop.call_soon_threadsafe(self._schedule)
        except RuntimeError:  # the kernel's loop is closed: the kernel is shutting down
            self._closed = True

    # ---- the loop's thread ------------------------------------------------------------------

    def _schedule(self) -> None:
        assert self._loop is not None
        delay = max(0.0, self._last_flush + self._min_interval - time.monotonic())
        self._loop.call_later(delay, self.flush)

    def _tick(self) -> None:
        if self._closed or self._loop is None:
            return
        self._show_quality()
        self._loop.call_later(QUALITY_REFRESH_SECONDS, self._tick)

    def flush(self) -> None:
        """Send queued rows to the chart and refresh the quality line (in the loop's thread)."""
        with self._lock:
            rows = list(self._pending)
            self._pending.clear()
            self._scheduled = False
        if self._closed:
            return
        self._last_flush = time.monotonic()
        if rows:
            if self.cds is None:
                self._build(rows)
            data = self._columns(rows)
            self.cds.stream(data, rollover=self.window)
            self.updates += 1
        self._show_quality()

    def _show_quality(self) -> None:
        try:
            self._quality.value = quality_html(self.source.quality())
        except Exception:  # a status line must never break the tile
            logger.exception("live tile %s: cannot show the stream's quality", self.source.name)

    def _build(self, rows: list[Row]) -> None:
        """Create the figure (once) from the first rows: pick the axes, start an empty source."""
        from bokeh.models import ColumnDataSource
        from bokeh.plotting import figure
        from jupyter_bokeh import BokehModel

        first = rows[-1]
        if self._x is None:
            # a Redis source has no sequence field (entry ids identify rows), but its rows'
            # conventional ``seq`` still makes the best x axis
            for name in (self.source.time_field, self.source.sequence_field or "seq"):
                if name is not None and name in first:
                    self._x = name
                    break
        if self._y is None:
            skip = {self._x, self.source.sequence_field or "seq", self.source.time_field}
            numeric = [k for k, v in first.items()
                       if k not in skip and isinstance(v, (int, float)) and not isinstance(v, bool)]
            self._y = numeric[:1] or [k for k in first if k not in skip][:1]
        is_time = self._x is not None and self._x == self.source.time_field
        fig = figure(height=self._height, sizing_mode="stretch_width", toolbar_location=None,
                     tools="pan,wheel_zoom,reset", x_axis_type="datetime" if is_time else "linear")
        self.cds = ColumnDataSource({"x": [], **{f"y{i}": [] for i in range(len(self._y))}})
        for i, name in enumerate(self._y):
            fig.line(x="x", y=f"y{i}", source=self.cds, line_width=1.5,
                     line_color=PALETTE[i % len(PALETTE)], legend_label=name)
        fig.xaxis.axis_label = self._x or "row"
        fig.legend.location = "top_left"
        fig.outline_line_color = None
        fig.grid.grid_line_alpha = 0.4
        model = BokehModel(fig, layout=w.Layout(width="100%"))
        model.add_class("hub-live-chart")
        self.chart = model
        replace_children(self._body, [model])

    def _columns(self, rows: list[Row]) -> dict[str, list[float]]:
        is_time = self._x is not None and self._x == self.source.time_field
        xs: list[float] = []
        for row in rows:
            self._n += 1
            if self._x is None:
                xs.append(float(self._n))
            elif is_time:
                seconds = event_time_seconds(row.get(self._x))
                xs.append(math.nan if seconds is None else seconds * 1000.0)  # bokeh: ms
            else:
                xs.append(_number(row.get(self._x)))
        data: dict[str, list[float]] = {"x": xs}
        for i, name in enumerate(self._y or []):
            data[f"y{i}"] = [_number(row.get(name)) for row in rows]
        return data

    def close(self) -> None:
        """Stop following the source (the source keeps running) and close the widgets."""
        self._closed = True
        with contextlib.suppress(Exception):
            self._unsubscribe()
        super().close()


def start_stream(stream_url: str | None = None, name: str = "live-demo",
                 time_field: str = "ts") -> StreamSource | StreamFollower:
    """A started stream. Without ``stream_url`` this kernel replays the bundled sample itself
    (each Voila viewer gets its own demo stream and a throwaway store); with one, rows are
    stored under ``HUB_HOME/streams/<name>`` and resumed after a restart."""
    from hub_kernel.data.stream import scratch_store_dir
    from hub_kernel.data.stream.server import DemoStreamServer

    store_dir = None
    if stream_url is None:
        demo = DemoStreamServer(rate=20).start()
        stream_url, store_dir = demo.url, scratch_store_dir()
    # one consumer per store: another kernel of the same dashboard (a second viewer, Voila's
    # preheated pool) follows the store the first one fills, and takes over when it goes
    return shared_stream(stream_url, name, store_dir=store_dir, time_field=time_field)


def live_tile(stream_url: str | None = None, name: str = "live-demo",
              time_field: str = "ts") -> LiveTile:
    """A started stream (``start_stream``) and its live tile."""
    return LiveTile(start_stream(stream_url, name, time_field), title=f"Live: {name}")
