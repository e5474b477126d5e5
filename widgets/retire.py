"""Widgets taken off the page are kept a while, not closed at once.

ipywidgets closes a widget when Python drops its last reference (``Widget.__del__``). A body
replaced while the page is still building its view (a progress bar replaced by the result a
moment later) was closed under the page's feet: "Cannot read properties of undefined (reading
'create_view')". ``replace_children`` keeps what it takes off in a bounded queue, so it is closed
only after many later replacements, long after any page has built it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

_KEPT: deque[Any] = deque(maxlen=2000)


def retire(*widgets: Any) -> None:
    """Keep ``widgets`` (taken off the page) referenced for a while."""
    _KEPT.extend(widgets)


def replace_children(box: Any, children: Sequence[Any]) -> None:
    """Set ``box.children``, keeping the children it drops (see the module docstring)."""
    kept = {id(c) for c in children}
    retire(*(c for c in box.children if id(c) not in kept))
    box.children = tuple(children)
