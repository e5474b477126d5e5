"""The toolbar's "Done" control: the viewer says their question is answered, optionally naming
the task, then may rate the dashboard 1-5 with one click."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as w

Done = Callable[[str], None]  # (task text, possibly empty)
Rate = Callable[[int], None]  # (1..5)


class DoneBar(w.HBox):
    """A task field (class ``hub-task``), a Done button (``hub-done``) and, once done, the
    rating buttons ``hub-rate-1`` .. ``hub-rate-5`` (in a box of class ``hub-rate``)."""

    def __init__(self, on_done: Done, on_rate: Rate) -> None:
        self._on_done, self._on_rate = on_done, on_rate
        self.task = w.Text(placeholder="What was your task? (optional)",
                           layout=w.Layout(width="210px"))
        self.task.add_class("hub-task")
        self.done = w.Button(description="Done", icon="check-circle",
                             tooltip="My question is answered: tell the agents")
        self.done.add_class("hub-done")
        self.done.on_click(lambda _b: self._done())
        buttons = []
        for n in range(1, 6):
            button = w.Button(description=str(n), tooltip=f"Rate this dashboard {n} of 5",
                              layout=w.Layout(width="32px", padding="0"))
            button.add_class(f"hub-rate-{n}")
            button.on_click(lambda _b, n=n: self._rate(n))
            buttons.append(button)
        self._buttons = buttons
        self.rate = w.HBox([w.HTML("<span>How useful was it?</span>"), *buttons],
                           layout=w.Layout(display="none", align_items="center"))
        self.rate.add_class("hub-rate")
        super().__init__([self.task, self.done, self.rate],
                         layout=w.Layout(align_items="center"))

    def _done(self) -> None:
        self._on_done(self.task.value.strip())
        self.done.button_style = "success"
        self.rate.layout.display = "flex"

    def _rate(self, n: int) -> None:
        self._on_rate(n)
        for i, button in enumerate(self._buttons, start=1):
            button.button_style = "info" if i <= n else ""


class SessionReporter:
    """What tiles report through: the dashboard's current session, guarded (a tile's event
    that cannot be recorded shows in the status, never breaks the tile)."""

    def __init__(self, dashboard: Any) -> None:
        self._dashboard = dashboard

    def interact(self, tile_id: str, kind: str, value: float = 1.0):
        board = self._dashboard
        return board._guarded_value(lambda: board.session.interact(tile_id, kind, value))

    def record_quality(self, tile_id: str, value: float) -> None:
        board = self._dashboard
        record = getattr(board.session, "record_quality", None)
        if record is not None:
            board._guarded_value(lambda: record(tile_id, value))
