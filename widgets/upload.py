"""Upload a file, ingest it into the catalog, and show its validation report.

Works in JupyterLab and under Voila (``ipywidgets.FileUpload``). Bad files show the
``DataError`` message; nothing is stored for them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import ipywidgets as w
import pandas as pd

from hub_kernel.data.catalog import Catalog, DatasetRecord, IngestResult
from hub_kernel.data.validation import ValidationReport, report_html
from hub_kernel.exceptions import HubError
from widgets.markup import error_html, escape

logger = logging.getLogger("hub_kernel")

ACCEPT = ".csv,.tsv,.txt,.xlsx,.xlsm,.json,.jsonl,.ndjson,.parquet,.pq"
DatasetCallback = Callable[[DatasetRecord, pd.DataFrame], None]


class ValidationReportView(w.HTML):
    """A validation report as an (escaped) HTML table."""

    def __init__(self, report: ValidationReport | None = None) -> None:
        super().__init__()
        self.add_class("hub-validation-report")
        self.show(report)

    def show(self, report: ValidationReport | None) -> None:
        self.value = "" if report is None else report_html(report)


class UploadPanel(w.VBox):
    """File upload -> catalog -> validation report; calls ``on_dataset`` with the new table."""

    def __init__(self, catalog: Catalog | None = None,
                 on_dataset: DatasetCallback | None = None) -> None:
        self.catalog = catalog or Catalog()
        self._callbacks: list[DatasetCallback] = [on_dataset] if on_dataset else []
        self.upload = w.FileUpload(accept=ACCEPT, multiple=False, description="Upload data")
        self.upload.add_class("hub-upload")
        self.status = w.HTML()
        self.status.add_class("hub-upload-status")
        self.report_view = ValidationReportView()
        super().__init__([w.HBox([self.upload, self.status],
                                 layout=w.Layout(align_items="center")), self.report_view])
        self.add_class("hub-upload-panel")
        self.upload.observe(self._on_upload, names="value")

    def on_dataset(self, callback: DatasetCallback) -> None:
        self._callbacks.append(callback)

    def ingest_bytes(self, content: bytes, filename: str) -> IngestResult | None:
        """Ingest uploaded bytes; show the report or the error. Returns None on error."""
        self.status.value = f"Reading {escape(filename)}…"
        try:
            result = self.catalog.ingest(content, name=filename)
            frame = self.catalog.load(result.record.id)
        except Exception as exc:  # the page must always answer, whatever went wrong
            if isinstance(exc, HubError):
                logger.warning("upload of %s refused: %s", filename, exc)
                message = str(exc)
            else:
                logger.exception("upload of %s failed", filename)
                message = f"{filename}: unexpected error ({type(exc).__name__}: {exc})"
            self.status.value = error_html(message, style="color:#b5485d")
            self.report_view.show(None)
            return None
        record = result.record
        verb = "Stored" if result.created else "Already in the catalog:"
        self.status.value = (f"<span class='hub-ok'>{verb} {escape(record.name)} "
                             f"({record.n_rows:,} rows, id {escape(record.id)})</span>")
        self.report_view.show(result.report)
        for callback in self._callbacks:
            callback(record, frame)
        return result

    def _on_upload(self, change: dict) -> None:
        files = change["new"]
        if not files:
            return
        item = files[0]
        self.ingest_bytes(bytes(item["content"]), str(item["name"]))
        self.upload.value = ()  # ready for the next file; the same file may be sent again
