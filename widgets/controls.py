"""A row of buttons drawn by the page as one widget.

A tile's header (its title and seven controls) and its "This answered my question" footer
were a dozen ipywidgets each (every button is three widget models: the button, its style,
its layout), about half of the models a dashboard sent before its first paint. An
``ActionBar`` is one anywidget: the page draws the buttons (each a ``<button>`` with the class
``hub-ACTION``, a Font Awesome icon as ipywidgets buttons have, and its tooltip) and sends
``{"action": NAME}`` when one is pressed; actions in ``on`` are drawn switched on (class
``hub-on``), as a pinned tile's pin is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import anywidget
import traitlets

logger = logging.getLogger("hub_kernel")

_ESM = r"""
function render({ model, el }) {
  el.classList.add("hub-actions");
  const draw = () => {
    el.replaceChildren();
    const title = model.get("title");
    if (title) {
      const text = document.createElement("div");
      text.className = "hub-tile-title";
      text.innerHTML = title;  // built and escaped by the kernel (widgets.markup.escape)
      el.appendChild(text);
    }
    const on = new Set(model.get("on"));
    for (const item of model.get("actions")) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = `hub-${item.action}` + (on.has(item.action) ? " hub-on" : "");
      button.title = item.tooltip || "";
      if (item.icon) {
        const icon = document.createElement("i");
        icon.className = `fa fa-${item.icon}`;
        button.appendChild(icon);
      }
      if (item.label) button.appendChild(document.createTextNode(
        (item.icon ? " " : "") + item.label));
      button.addEventListener("click", () => model.send({ action: item.action }));
      el.appendChild(button);
    }
  };
  draw();
  for (const name of ["title", "on", "actions"]) model.on(`change:${name}`, draw);
}
export default { render };
"""

_CSS = """
.hub-actions { display: flex; align-items: center; gap: 2px; width: 100%; }
.hub-actions .hub-tile-title { flex: 1 1 auto; min-width: 0; overflow: hidden; }
.hub-actions button { min-width: 28px; height: 28px; padding: 0 6px; border: 0; border-radius: 2px;
  background: #eeeeee; color: rgba(0, 0, 0, 0.8); cursor: pointer; font-size: 13px; }
.hub-actions button:hover { background: #e0e0e0; }
.hub-actions button.hub-on { background: #2196f3; color: white; }
.hub-actions button.hub-answered.hub-on { background: #4caf50; color: white; }
"""

#: (action, label, Font Awesome icon, tooltip)
Action = tuple[str, str, str, str]


class ActionBar(anywidget.AnyWidget):
    """Buttons for ``actions`` (and an optional ``title``, HTML the caller escaped); pressing
    one calls ``on_action(name)``, from the page or from code with ``click(name)``."""

    _esm = _ESM
    _css = _CSS
    title = traitlets.Unicode("").tag(sync=True)
    actions = traitlets.List(traitlets.Dict()).tag(sync=True)
    on = traitlets.List(traitlets.Unicode()).tag(sync=True)

    def __init__(self, actions: Sequence[Action], on_action: Callable[[str], None], *,
                 title: str = "") -> None:
        super().__init__(title=title, actions=[
            {"action": a, "label": label, "icon": icon, "tooltip": tip}
            for a, label, icon, tip in actions])
        self._names = {a for a, *_ in actions}
        self._on_action = on_action
        self.on_msg(self._received)

    def click(self, action: str) -> None:
        """Press the button of ``action``, as a person on the page would."""
        if action not in self._names:
            raise KeyError(f"no button {action!r}; buttons: {', '.join(sorted(self._names))}")
        self._on_action(action)

    def switch(self, action: str, on: bool) -> None:
        """Draw ``action``'s button switched on or off."""
        shown = [a for a in self.on if a != action]
        self.on = [*shown, action] if on else shown

    def _received(self, _widget, content, _buffers) -> None:
        """A message from a page anyone may script: only a known action is acted on."""
        action = content.get("action") if isinstance(content, dict) else None
        if isinstance(action, str) and action in self._names:
            self._on_action(action)
        else:
            logger.warning("ignoring an unknown button press from the page")
