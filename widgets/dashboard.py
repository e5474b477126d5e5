"""The dashboard: a CSS grid of tiles rendered from a ``hub_kernel.layout.Layout``.

The layout object is the single source of truth. Anything may change it (a tile's buttons, the
toolbar, an agent); the dashboard observes it and moves, resizes or re-renders tiles in place,
live in JupyterLab and Voila. Tile widgets are kept across changes, so charts are not rebuilt
when a tile only moves.
"""

from __future__ import annotations

import itertools
import logging
import os
from html import escape

import ipywidgets as w
import pandas as pd

from hub_kernel.config import get_settings
from hub_kernel.data import load_dataset, profile_dataset, sample_path
from hub_kernel.data.profile import DatasetProfile
from hub_kernel.exceptions import HubError
from hub_kernel.layout import Layout, default_layout
from widgets.bokehjs import ensure_bokehjs
from widgets.tiles import TileView

logger = logging.getLogger("hub_kernel")
_instances = itertools.count(1)

STYLE = """<style>
.hub-dashboard { font-family: system-ui, sans-serif; }
.hub-grid { gap: 12px; width: 100%; }
.hub-tile { border: 1px solid #d7dde5; border-radius: 8px; padding: 8px 10px; background: #fff;
            box-sizing: border-box; overflow: hidden; }
.hub-tile-header { border-bottom: 1px solid #eef1f4; margin-bottom: 6px; }
.hub-tile-title { font-weight: 600; overflow: hidden; text-overflow: ellipsis; }
.hub-table { border-collapse: collapse; font-size: 12px; width: 100%; }
.hub-table th, .hub-table td { text-align: left; padding: 2px 6px;
                               border-bottom: 1px solid #f0f0f0; }
.hub-col { font-family: ui-monospace, monospace; word-break: break-all; }
.hub-bar { display: inline-block; height: 8px; background: #b5485d; margin-right: 6px; }
</style>"""


class Dashboard(w.VBox):
    """A live dashboard of ``frame`` arranged by ``tile_layout`` (default: from the profile)."""

    def __init__(self, frame: pd.DataFrame, tile_layout: Layout | None = None,
                 profile: DatasetProfile | None = None, title: str = "Dashboard") -> None:
        self.frame = frame
        self.profile = profile or profile_dataset(frame)
        self.tile_layout = tile_layout or default_layout(self.profile)
        self._initial = self.tile_layout.copy()
        self._views: dict[str, TileView] = {}
        self._scope = f"hub-dash-{next(_instances)}"
        ensure_bokehjs()

        self._grid = w.GridBox(layout=w.Layout(width="100%"))
        self._grid.add_class("hub-grid")
        # Grid positions go into a scoped <style>: Voila's widget manager ignores the
        # grid_row/grid_column layout traits, and one message per change beats two per tile.
        self._positions = w.HTML()
        self._positions.add_class("hub-positions")
        self._status = w.HTML()
        self._status.add_class("hub-status")
        reset = w.Button(description="Reset layout", tooltip="Back to the starting layout")
        reset.add_class("hub-reset")
        reset.on_click(lambda _b: self.reset())
        self._title = w.HTML(layout=w.Layout(flex="1 1 auto"))
        self._title.add_class("hub-title")
        self.title = title
        toolbar = w.HBox([self._title, self._status, reset], layout=w.Layout(align_items="center"))
        super().__init__([w.HTML(STYLE), self._positions, toolbar, self._grid])
        self.add_class("hub-dashboard")
        self.add_class(self._scope)
        self._unsubscribe = self.tile_layout.observe(self._render)
        self._render(self.tile_layout)

    @classmethod
    def from_path(cls, path: str | os.PathLike[str] | None = None, **kwargs) -> Dashboard:
        """Dashboard of a file (``None``: ``HUB_DATASET``, else the bundled sample)."""
        chosen = path or get_settings().dataset or sample_path()
        kwargs.setdefault("title", os.path.basename(os.fspath(chosen)))
        return cls(load_dataset(chosen), **kwargs)

    @property
    def title(self) -> str:
        return self._title_text

    @title.setter
    def title(self, value: str) -> None:
        self._title_text = value
        self._title.value = f"<h2 style='margin:0'>{escape(value)}</h2>"

    def follow(self, upload) -> None:
        """Show every dataset uploaded through ``upload`` (a ``widgets.UploadPanel``)."""
        upload.on_dataset(lambda record, frame: self.set_data(frame, title=record.name))

    def set_data(self, frame: pd.DataFrame, profile: DatasetProfile | None = None,
                 title: str | None = None) -> None:
        """Show another table: new profile, new starting layout, every tile rebuilt."""
        profile = profile or profile_dataset(frame)
        fresh = default_layout(profile)  # before touching anything: may raise on odd data
        if title is not None:
            self.title = title
        self.frame, self.profile = frame, profile
        self._initial = fresh.copy()
        for view in self._views.values():
            view.close()
        self._views.clear()
        self.tile_layout.replace(fresh.tiles, fresh.n_columns, override_pins=True)

    def reset(self) -> None:
        """Return to the layout the dashboard started with."""
        self._guard(lambda: self.tile_layout.replace(self._initial.tiles, self._initial.n_columns))

    def _render(self, layout: Layout) -> None:
        views = []
        scope = f".{self._scope} .hub-grid"
        columns = f"repeat({layout.n_columns}, minmax(0, 1fr))"
        rules = [f"{scope} {{ grid-template-columns: {columns}; }}"]
        for placement in layout.placements():
            tile = placement.tile
            view = self._views.get(tile.id)
            if view is None:
                view = self._views[tile.id] = TileView(tile, self.frame, self.profile,
                                                       self._on_tile_action)
            else:
                view.show(tile)
            rules.append(
                f"{scope} > .hub-tile--{tile.id} {{ "
                f"grid-row: {placement.row + 1} / span {placement.height}; "
                f"grid-column: {placement.column + 1} / span {placement.width}; }}"
            )
            views.append(view)
        for tile_id in set(self._views) - set(layout.ids):
            self._views.pop(tile_id).close()
        # tile ids match [A-Za-z0-9_-]+ (Tile validates it), so they are safe in CSS
        self._positions.value = "<style>\n" + "\n".join(rules) + "\n</style>"
        self._grid.children = tuple(views)
        self._status.value = f"<span class='hub-version'>layout v{layout.version}</span>"

    def _on_tile_action(self, tile_id: str, action: str) -> None:
        layout = self.tile_layout
        if action == "first":
            self._guard(lambda: layout.move(tile_id, 0))
        elif action == "expand":
            wide = layout[tile_id].width >= layout.n_columns
            self._guard(lambda: layout.resize(tile_id, width=1 if wide else layout.n_columns))

    def _guard(self, change) -> None:
        try:
            change()
        except HubError as exc:  # a refused change is shown, never a crash of the page
            logger.warning("layout change refused: %s", exc)
            self._status.value = f"<span class='hub-error'>{escape(str(exc))}</span>"
