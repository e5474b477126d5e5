"""Tile views: a header with the title and controls, and a body (HTML or a bokeh chart).

Everything shown from the data goes through ``html.escape``: column names and values are user text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import ipywidgets as w
import pandas as pd

from hub_kernel.data.profile import DatasetProfile
from hub_kernel.layout import Tile
from widgets.controls import ActionBar
from widgets.markup import escape
from widgets.retire import replace_children
from widgets.summaries import missing_html, overview_html
from widgets.tile_kinds import TileContext, error_widget, render

logger = logging.getLogger("hub_kernel")
__all__ = ["ANSWERED", "CONTROLS", "TileView", "missing_html", "overview_html"]
TileAction = Callable[[str, str], None]  # (tile id, action name)

# (action, label, Font Awesome icon, tooltip): icons ship with ipywidgets, emoji fonts may not
CONTROLS = (("first", "⇤", "", "Move this tile to the first slot"),
            ("expand", "⤢", "", "Expand or shrink this tile"),
            ("pin", "", "thumbtack", "Pin: keep this tile where it is, whatever the agent does"),
            ("lock", "", "lock", "Lock: the agent may move this tile but never change or "
                                 "remove it"),
            ("up", "", "thumbs-up", "More like this"),
            ("down", "", "thumbs-down", "Less like this: twice and the agent takes it away"),
            ("dismiss", "✕", "", "Remove this tile (Reset layout brings it back)"))
ANSWERED = ("answered", "This answered my question", "check",
            "Tell the agents this tile gave you what you came for")


class TileView(w.VBox):
    """The widget of one tile. ``show(tile)`` refreshes it when the layout changes the tile.

    Its root element has the classes ``hub-tile``, ``hub-tile--KIND``, ``hub-tile-id--ID`` and,
    while its analysis runs or after it failed, ``hub-tile--pending`` or ``hub-tile--failed``.
    ``context(tile, state)`` makes the ``TileContext`` its body is drawn with.
    """

    def __init__(self, tile: Tile, frame: pd.DataFrame, profile: DatasetProfile,
                 on_action: TileAction | None = None,
                 context: Callable[[Tile, Callable[[str], None]], TileContext] | None = None
                 ) -> None:
        self._frame = frame
        self._profile = profile
        self._on_action = on_action
        self._context = context or (lambda t, state: TileContext(t, frame, profile,
                                                                 state=state))
        self.header = ActionBar(CONTROLS, self._act)
        self.header.add_class("hub-tile-header")
        self._body = w.Box(layout=w.Layout(width="100%"))
        self._body.add_class("hub-tile-body")  # the page times each new body's drawing
        self.footer = ActionBar([ANSWERED], lambda _action: self._answered())
        self.footer.add_class("hub-tile-footer")
        super().__init__([self.header, self._body, self.footer],
                         layout=w.Layout(min_width="0"))
        self.add_class("hub-tile")
        self.add_class(f"hub-tile--{tile.kind}")
        self.add_class(f"hub-tile-id--{tile.id}")
        self.state = "ready"
        self.tile: Tile | None = None
        self.show(tile)

    def set_state(self, state: str) -> None:
        """``pending`` (its analysis runs), ``failed`` or ``ready``: shown as a class."""
        for old in ("pending", "failed"):
            self.remove_class(f"hub-tile--{old}")
        if state in ("pending", "failed"):
            self.add_class(f"hub-tile--{state}")
        self.state = state

    def show(self, tile: Tile) -> None:
        previous, self.tile = self.tile, tile
        marks = (" <span class='hub-mark'>(pinned)</span>" if tile.pinned else "") + (
            " <span class='hub-mark'>(locked)</span>" if tile.locked else "")
        self.header.title = f"<span>{escape(tile.title)}</span>{marks}"
        self.header.on = [a for a, on in (("pin", tile.pinned), ("lock", tile.locked)) if on]
        if previous is None or (previous.chart_type, previous.columns, previous.height) != (
            tile.chart_type, tile.columns, tile.height
        ):
            try:
                body = render(self._context(tile, self.set_state))
            except Exception as exc:  # one broken tile must not take the dashboard down
                logger.exception("tile %s cannot be drawn", tile.id)
                self.set_state("failed")
                body = error_widget(f"This tile cannot be drawn: {exc}")
            replace_children(self._body, [body])

    def _answered(self) -> None:
        if self._on_action is not None and self.tile is not None:
            self._on_action(self.tile.id, "answered")
            self.footer.switch("answered", True)

    def _act(self, action: str) -> None:
        if self._on_action is not None and self.tile is not None:
            self._on_action(self.tile.id, action)
