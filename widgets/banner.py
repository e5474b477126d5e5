"""The dashboard's banner: a proposal to approve or reject, a change to undo, a failure."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w

from hub_kernel.safety.governor import Decision
from widgets.markup import escape
from widgets.retire import replace_children


class Banner(w.HBox):
    """Shows one agent decision with the buttons that act on it (class ``hub-banner``)."""

    def __init__(self, *, approve: Callable[[int | None], None],
                 reject: Callable[[int | None], None], undo: Callable[[], None]) -> None:
        super().__init__(layout=w.Layout(display="none"))
        self.add_class("hub-banner")
        self._approve, self._reject, self._undo = approve, reject, undo

    def show(self, decision: Decision | None, *, failed: bool = False) -> None:
        """Show ``decision`` (``None`` and ``failed``: the agent failed; else: hide)."""
        if decision is None and not failed:
            self.layout.display = "none"
            return
        text, buttons = "", []
        self.remove_class("hub-banner--failed")
        if decision is None:
            text = ("The design agent failed; the dashboard kept its last good layout "
                    "(see <code>hub doctor</code>).")
            self.add_class("hub-banner--failed")
        elif decision.status == "pending":
            text = f"<b>Proposed:</b> {escape(decision.explanation)}"
            shown = decision.proposal_id  # the buttons act on this proposal, not a newer one
            buttons = [_button("Approve", "hub-approve", "success",
                               lambda: self._approve(shown)),
                       _button("Reject", "hub-reject", "", lambda: self._reject(shown))]
        elif decision.status == "applied" and decision.announced:
            text = f"<b>Changed:</b> {escape(decision.explanation)}"
            buttons = [_button("Undo", "hub-undo", "warning", self._undo)]
        elif decision.status in ("undone", "restored"):
            text = f"<b>{escape(decision.status.capitalize())}:</b> {escape(decision.explanation)}"
        elif decision.status in ("vetoed", "refused", "failed"):
            text = f"<b>Not applied</b> ({escape(decision.status)}): {escape(decision.explanation)}"
        else:
            self.layout.display = "none"
            return
        message = w.HTML(f"<span class='hub-banner-text'>{text}</span>",
                         layout=w.Layout(flex="1 1 auto"))
        replace_children(self, [message, *buttons])
        self.layout.display = "flex"


def _button(label: str, css: str, style: str, action: Callable[[], None]) -> w.Button:
    button = w.Button(description=label, button_style=style)
    button.add_class(css)
    button.on_click(lambda _b: action())
    return button
