"""The audit tile: "why did this change?", answered from the audit log."""

from __future__ import annotations

import logging
from html import escape

import ipywidgets as w

from hub_kernel.exceptions import HubError
from hub_kernel.safety.audit import AuditLog

logger = logging.getLogger("hub_kernel")


def audit_html(key: str, limit: int = 12) -> str:
    """The newest decisions about ``key`` (a user's dashboard), newest first, as a table."""
    rows = [e for e in AuditLog().entries(action=key) if e.agent != "person" or e.approved_by]
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
    """A collapsible "Why did this change?" panel listing the audit entries of a dashboard."""

    def __init__(self) -> None:
        self._table = w.HTML()
        self._table.add_class("hub-why")
        super().__init__(children=[self._table], titles=("Why did this change?",),
                         selected_index=None)
        self.add_class("hub-why-panel")

    def refresh(self, key: str) -> None:
        try:
            self._table.value = audit_html(key)
        except HubError as exc:  # an unreadable log is shown, not raised into the page
            logger.warning("audit log unreadable: %s", exc)
            self._table.value = f"<p class='hub-error'>{escape(str(exc))}</p>"
