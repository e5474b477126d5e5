"""The report preview: a report's sections as collapsible panels with thumbs up and down.

What the reader does goes to the report agent's section learner (``hub_kernel.agents.report``):
opening a panel (``expand``), closing it (``collapse``, with the seconds it was open), the time
spent reading it (``time``) and thumbs (``thumbs_up``/``thumbs_down``). The next report for that
audience is chosen with this feedback. Everything from the data is escaped (the section HTML is
written escaped by ``hub_kernel.reports``; titles are escaped here).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as w
import pandas as pd
import traitlets

from hub_kernel.agents.report.learner import SectionLearner
from hub_kernel.agents.report.sections import AUDIENCES
from hub_kernel.exceptions import HubError
from hub_kernel.reports.compose import Report, ReportSection, compose_report
from widgets.markup import error_html, escape
from widgets.retire import replace_children

logger = logging.getLogger("hub_kernel")

STYLE = """<style>
.hub-report-preview { font-family: system-ui, sans-serif; }
.hub-report-section { align-items: flex-start; gap: 4px; }
.hub-report-section .widget-button { width: 36px; }
.hub-report-preview .hub-num { font-weight: 600; }
.hub-report-preview .hub-name { font-style: italic; }
.hub-report-preview .hub-table { border-collapse: collapse; font-size: 12px; }
.hub-report-preview .hub-table th, .hub-report-preview .hub-table td {
  text-align: left; padding: 2px 6px; border-bottom: 1px solid #f0f0f0; }
.hub-report-preview .hub-notes { color: #5b6776; font-size: 12px; }
</style>"""


class SectionPanel(w.HBox):
    """One section: a collapsible panel and its thumbs."""

    def __init__(self, section: ReportSection, report: Callable[[str, str, float], None],
                 clock: Callable[[], float]) -> None:
        self.section = section
        self._report = report
        self._clock = clock
        self._opened_at: float | None = None
        body = w.HTML(section.to_html(charts=False))
        body.add_class("hub-report-body")
        self.panel = w.Accordion(children=[body], titles=(escape(section.title),),
                                 selected_index=None, layout=w.Layout(flex="1 1 auto"))
        self.panel.add_class(f"hub-report-panel-{section.id}")
        self.panel.observe(self._toggled, names="selected_index")
        self.up = w.Button(description="👍", tooltip="Useful: show sections like this first")
        self.down = w.Button(description="👎", tooltip="Not useful: show it less")
        self.up.add_class("hub-report-up")
        self.down.add_class("hub-report-down")
        self.up.on_click(lambda _b: self._report(section.id, "thumbs_up", 1.0))
        self.down.on_click(lambda _b: self._report(section.id, "thumbs_down", 1.0))
        super().__init__([self.panel, self.up, self.down])
        self.add_class("hub-report-section")

    @property
    def expanded(self) -> bool:
        return self.panel.selected_index is not None

    def expand(self) -> None:
        self.panel.selected_index = 0

    def collapse(self) -> None:
        self.panel.selected_index = None

    def _toggled(self, change: dict[str, Any]) -> None:
        if change["new"] is not None and change["old"] is None:
            self._opened_at = self._clock()
            self._report(self.section.id, "expand", 1.0)
        elif change["new"] is None:
            self.flush(closing=True)

    def flush(self, closing: bool = False) -> None:
        """Report the time the panel has been open (on closing, also the collapse)."""
        if self._opened_at is None:
            return
        seconds = max(self._clock() - self._opened_at, 0.0)
        self._opened_at = None if closing else self._clock()
        if closing:
            self._report(self.section.id, "collapse", seconds)
        if seconds > 0:
            self._report(self.section.id, "time", seconds)


class ReportPreview(w.VBox):
    """A report for one audience, previewed as panels; reader feedback trains the agent."""

    audience = traitlets.Unicode("executive").tag(sync=True)
    n_feedback = traitlets.Int(0).tag(sync=True)

    def __init__(self, report: Report | None = None, *, frame: pd.DataFrame | None = None,
                 dataset: str | None = None, audience: str = "executive",
                 learner: SectionLearner | None = None, user: str | None = None,
                 clock: Callable[[], float] = time.monotonic, **compose: Any) -> None:
        self.learner = learner or SectionLearner()
        self.user = user
        self._clock = clock
        self._frame, self._dataset, self._compose = frame, dataset, compose
        self.events: list[tuple[str, str, float]] = []
        self.panels: list[SectionPanel] = []
        self._picker = w.Dropdown(options=list(AUDIENCES), value=audience,
                                  description="Audience:")
        self._picker.add_class("hub-report-audience")
        self._title = w.HTML()
        self._status = w.HTML()
        self._sections = w.VBox()
        super().__init__([w.HTML(STYLE), w.HBox([self._picker, self._status]), self._title,
                          self._sections])
        self.add_class("hub-report-preview")
        self.report: Report | None = None
        self._syncing = False
        if report is not None:
            self.show(report)
        else:
            self.audience = audience
            self.refresh()
        self._picker.observe(self._picked, names="value")

    @classmethod
    def for_frame(cls, frame: pd.DataFrame, dataset: str = "data", **kw: Any) -> ReportPreview:
        """A preview composing its reports from ``frame``."""
        return cls(frame=frame, dataset=dataset, **kw)

    def refresh(self) -> None:
        """Compose a new report for the current audience (the agent chooses the sections)."""
        self.flush()
        try:
            report = compose_report(self._dataset, audience=self.audience, frame=self._frame,
                                    learner=self.learner, **self._compose)
        except HubError as exc:
            logger.warning("report preview: %s", exc)
            self._status.value = error_html(exc, cls="hub-report-error")
            return
        self.show(report)

    def show(self, report: Report) -> None:
        """Show ``report`` (its sections in the order the agent chose)."""
        self.flush()
        self.report = report
        self.audience = report.audience
        if self._picker.value != report.audience:
            self._syncing = True
            try:
                self._picker.value = report.audience
            finally:
                self._syncing = False
        self._title.value = (f"<h3 class='hub-report-title'>{escape(report.title)}</h3>")
        self._status.value = ""
        self.panels = [SectionPanel(s, self._record, self._clock) for s in report.sections]
        replace_children(self._sections, self.panels)

    def panel(self, section_id: str) -> SectionPanel:
        for panel in self.panels:
            if panel.section.id == section_id:
                return panel
        raise KeyError(section_id)

    def flush(self) -> None:
        """Report the reading time of the panels open now (call before the page is left)."""
        for panel in self.panels:
            panel.flush()

    def _picked(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        self.audience = change["new"]
        self.refresh()

    def _record(self, section: str, kind: str, value: float) -> None:
        self.events.append((section, kind, value))
        try:
            self.learner.feedback(self.audience, section, kind, value, user=self.user,
                                  report=self.report.id if self.report else None)
        except HubError as exc:  # feedback is best effort: the preview keeps working
            logger.warning("report feedback not stored: %s", exc)
            return
        self.n_feedback += 1


class ReportPanel(w.Accordion):
    """"Report preview" under a dashboard: composed on first open (it takes a few seconds),
    then again whenever the dashboard shows other data."""

    def __init__(self, dashboard: Any, audience: str = "executive") -> None:
        self._dashboard = dashboard
        self._audience = audience
        self.preview: ReportPreview | None = None
        self._holder = w.VBox([w.HTML("<p>Composing the report…</p>")])
        super().__init__(children=[self._holder], titles=("Report preview",),
                         selected_index=None)
        self.add_class("hub-report-panel")
        self.observe(self._opened, names="selected_index")
        dashboard.on_data(self._data_changed)

    def _opened(self, change: dict[str, Any]) -> None:
        if change["new"] == 0 and self.preview is None:
            self._build()

    def _build(self) -> None:
        board = self._dashboard
        self.preview = ReportPreview.for_frame(board.frame, dataset=board.title,
                                               audience=self._audience, user=board.user)
        replace_children(self._holder, [self.preview])

    def _data_changed(self) -> None:
        if self.preview is not None:
            self.preview.flush()
            self.preview = None
            if self.selected_index == 0:
                self._build()
            else:
                replace_children(self._holder, [w.HTML("<p>Composing the report…</p>")])
