"""The audit tile: "why did this change?", answered from the audit log."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import ipywidgets as w

from hub_kernel.exceptions import HubError
from hub_kernel.safety.audit import AuditLog
from hub_kernel.safety.versions import VersionStore
from widgets.markup import error_html, escape

logger = logging.getLogger("hub_kernel")


def audit_html(key: str, limit: int = 12) -> str:
    """The newest decisions about ``key`` (a user's dashboard), newest first, as a table."""
    # the key is in the action as "... layout KEY: ..." or "... for KEY: ..."; LIKE only narrows
    about = re.compile(rf"(?:layout|for) {re.escape(key)}(?::| v\d+|$)")
    rows = [e for e in AuditLog().entries(action=key) if about.search(e.action)]
    outcomes = {e.ref: e.outcome_reward for e in AuditLog().entries(action="outcome")
                if e.ref is not None}
    if not rows:
        return "<p class='hub-why-empty'>No agent has changed this dashboard yet.</p>"
    body = []
    for entry in reversed(rows[-limit:]):
        reward = outcomes.get(entry.id)
        body.append(
            f"<tr class='hub-why-row'><td>{escape(entry.time[11:19])}</td>"
            f"<td>{escape(entry.agent)}</td><td>{escape(entry.mode or '')}</td>"
            f"<td>{escape(entry.action)}</td><td>{escape(entry.explanation)}</td>"
            f"<td>{escape(entry.approved_by or '')}</td>"
            f"<td>{'' if reward is None else f'{reward:.2f}'}</td></tr>"
        )
    return ("<table class='hub-table hub-why-table'><thead><tr><th>time (UTC)</th><th>who</th>"
            "<th>mode</th><th>what</th><th>why</th><th>approved by</th><th>reward</th>"
            f"</tr></thead><tbody>{''.join(body)}</tbody></table>")


class AuditView(w.Accordion):
    """Two collapsible panels: "Why did this change?" (the audit entries of a dashboard) and
    "Layout history" (every version, any of which can be restored exactly)."""

    def __init__(self, restore: Callable[[int], None] | None = None) -> None:
        self._table = w.HTML()
        self._table.add_class("hub-why")
        self._versions = w.Dropdown(description="Version:", layout=w.Layout(width="60%"))
        self._versions.add_class("hub-versions")
        button = w.Button(description="Restore", tooltip="Put this layout back exactly (the "
                                                         "current one stays in the history)")
        button.add_class("hub-restore")
        button.on_click(lambda _b: self._restore())
        self._on_restore = restore
        history = w.HBox([self._versions, button])
        super().__init__(children=[self._table, history],
                         titles=("Why did this change?", "Layout history"),
                         selected_index=None)
        self.add_class("hub-why-panel")

    def refresh(self, key: str) -> None:
        try:
            self._table.value = audit_html(key)
            versions = VersionStore().history("layout", key)
        except HubError as exc:  # an unreadable log is shown, not raised into the page
            logger.warning("audit log unreadable: %s", exc)
            self._table.value = error_html(exc, name="p")
            return
        # option labels are text, not HTML: no escaping needed (and none would be undone)
        self._versions.options = [
            (f"v{v.version} · {v.time[11:19]} · {v.author}: {v.reason[:80]}", v.version)
            for v in reversed(versions)]

    def _restore(self) -> None:
        if self._on_restore is not None and self._versions.value is not None:
            self._on_restore(int(self._versions.value))
