"""What an executed notebook holds: its failing cell, the outcome it reported, its HTML copy.

Papermill saves the executed copy after every cell, so these work on a finished run and on one
interrupted half-way (the run history repairs those). ``OUTCOME_MIME`` is the MIME type under
which a notebook displays its outcome (``hub_kernel.schedule.retrain`` does).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger("hub_kernel")

OUTCOME_MIME = "application/vnd.hub.run+json"


def read_notebook(path: Path) -> Any:
    """The notebook at ``path`` (nbformat 4)."""
    import nbformat

    return nbformat.read(str(path), as_version=4)


def error_cell(path: Path) -> int | None:
    """Index (in the kept notebook) of the code cell whose output is the error."""
    try:
        nb = read_notebook(path)
    except Exception:
        return None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and any(o.get("output_type") == "error"
                                            for o in cell.get("outputs", [])):
            return index
    for index, cell in enumerate(nb.cells):  # no error output (e.g. the kernel died)
        if cell.get("metadata", {}).get("papermill", {}).get("exception"):
            return index
    return None


def reported_summary(path: Path) -> dict[str, Any] | None:
    """The last value the notebook displayed as ``OUTCOME_MIME`` (None if it showed none)."""
    try:
        nb = read_notebook(path)
    except Exception:
        return None
    found = None
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {}).get(OUTCOME_MIME)
            if isinstance(data, str):
                try:
                    data = json.loads(data)
                except ValueError:
                    continue
            if isinstance(data, Mapping):
                found = dict(data)
    return found


def export_html(notebook: Path, html: Path) -> Path | None:
    """The HTML copy of an executed notebook (None, logged, if nbconvert fails)."""
    try:
        from nbconvert import HTMLExporter

        body, _ = HTMLExporter().from_notebook_node(read_notebook(notebook))
        tmp = html.with_suffix(".html.tmp")
        tmp.write_text(body, encoding="utf-8")
        tmp.replace(html)
        return html
    except Exception as exc:
        logger.warning("no HTML copy of %s: %s", notebook, exc)
        return None
