"""Reports: composed from computed facts with the report agent's section choice, nbconvert export.

The section learner itself is ``hub_kernel.agents.report`` (one layer down); ``ReportAgent`` here
composes and exports with it.

Importing this package stays light: pandas, bokeh, papermill and nbconvert are imported by the
modules that use them, on first use of these names.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Report",
    "ReportAgent",
    "compose_report",
    "export_report",
    "get_exporter",
    "register_exporter",
]

_WHERE = {
    "Report": "hub_kernel.reports.compose",
    "compose_report": "hub_kernel.reports.compose",
    "ReportAgent": "hub_kernel.reports.agent",
    "export_report": "hub_kernel.reports.export",
    "get_exporter": "hub_kernel.reports.export",
    "register_exporter": "hub_kernel.reports.export",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
