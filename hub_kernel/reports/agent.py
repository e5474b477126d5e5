"""``ReportAgent``: the Report Generation Agent as the product uses it.

It composes reports per audience with its section learner (``hub_kernel.agents.report``, one
layer down), exports them, and takes reader feedback (what the report preview widget reports).
"""

from __future__ import annotations

from typing import Any

from hub_kernel.agents.report.learner import AGENT, SectionLearner
from hub_kernel.reports.compose import Report, compose_report
from hub_kernel.reports.export import ExportResult, export_report


class ReportAgent:
    """The Report Generation Agent: composes reports per audience with its section learner,
    exports them, and takes reader feedback (what the report preview widget reports)."""

    name = AGENT

    def __init__(self, learner: SectionLearner | None = None) -> None:
        self.learner = learner or SectionLearner()

    def compose(self, dataset: Any = None, *, audience: str = "executive", **kw: Any) -> Report:
        """A ``Report`` (see ``hub_kernel.reports.compose.compose_report``)."""
        return compose_report(dataset, audience=audience, learner=self.learner, **kw)

    def export(self, dataset: Any = None, **kw: Any) -> ExportResult:
        """Run the analysis notebook and export it (``hub_kernel.reports.export``)."""
        return export_report(dataset, **kw)

    def feedback(self, audience: str, section: str, kind: str, value: float = 1.0,
                 **kw: Any) -> None:
        """Reader feedback on a section: expand, collapse (seconds open), thumbs_up,
        thumbs_down, time (seconds spent)."""
        self.learner.feedback(audience, section, kind, value, **kw)
