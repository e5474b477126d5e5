"""hub's UI layer: ipywidgets + bokeh components. Depends on hub_kernel, never the reverse."""

from __future__ import annotations

from widgets.dashboard import Dashboard
from widgets.tiles import TileView
from widgets.upload import UploadPanel, ValidationReportView
from widgets.viewer import viewer_user

__all__ = ["Dashboard", "TileView", "UploadPanel", "ValidationReportView", "viewer_user"]
