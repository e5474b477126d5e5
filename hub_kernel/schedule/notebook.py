"""What an executed notebook holds: its failing cell, the outcome it reported, its HTML copy.

A kept notebook has its credentials removed (``scrub_notebook``) before its HTML copy is made,
and the HTML copy is sanitised (``export_html``).

Papermill saves the executed copy after every cell, so these work on a finished run and on one
interrupted half-way (the run history repairs those). ``OUTCOME_MIME`` is the MIME type under
which a notebook displays its outcome (``hub_kernel.schedule.retrain`` does).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger("hub_kernel")

OUTCOME_MIME = "application/vnd.hub.run+json"

#: what a run's HTML copy keeps of a Markdown or HTML output (headings, tables, lists, links):
#: nbconvert's own list lacks headings and table heads; scripts, handlers and ``img`` never pass
_TAGS = frozenset({
    "a", "abbr", "acronym", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt",
    "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "s",
    "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "tr", "u", "ul",
})
_ATTRIBUTES = {"*": ["class", "id"], "a": ["href", "title"], "abbr": ["title"],
               "acronym": ["title"], "td": ["align", "colspan", "rowspan"],
               "th": ["align", "colspan", "rowspan"]}


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


def scrub_notebook(path: Path, secrets: Collection[str] = ()) -> bool:
    """Remove credentials from an executed notebook in place: papermill's injected parameters
    (cell and metadata), every URL and every one of ``secrets`` in sources and text outputs
    (``core.redact``). Returns whether it changed; a notebook that cannot be read or written
    is logged and left."""
    import nbformat

    from hub_kernel.core.redact import redact, redact_code, redact_text

    try:
        nb = read_notebook(path)
    except Exception as exc:
        logger.warning("cannot read %s to remove credentials: %s", path, exc)
        return False
    before = nbformat.writes(nb)
    papermill = nb.metadata.get("papermill")
    if isinstance(papermill, dict) and "parameters" in papermill:
        papermill["parameters"] = redact(dict(papermill["parameters"]), secrets=secrets)
    for cell in nb.cells:
        injected = "injected-parameters" in cell.get("metadata", {}).get("tags", [])
        cell.source = (redact_code(cell.source, secrets) if injected
                       else redact_text(cell.source, secrets))
        for output in cell.get("outputs", []):
            for key in ("text", "evalue", "traceback"):
                if key in output:
                    output[key] = redact(output[key], by_key=False, secrets=secrets)
            for mime, value in output.get("data", {}).items():
                if not mime.startswith("image/") or mime == "image/svg+xml":  # not base64
                    output["data"][mime] = redact(value, by_key=False, secrets=secrets)
    after = nbformat.writes(nb)
    if after == before:
        return False
    try:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(after, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        logger.warning("cannot remove credentials from %s: %s", path, exc)
        return False
    return True


def clean_html(element: str | bytes) -> str:
    """``element`` with only harmless markup left (bleach, links to http(s) and mailto only):
    any other tag is shown as text, event handlers and scripts are dropped."""
    import bleach

    text = element.decode() if isinstance(element, bytes) else str(element)
    return str(bleach.clean(text, tags=_TAGS, attributes=_ATTRIBUTES,
                            protocols={"http", "https", "mailto"}))


def export_html(notebook: Path, html: Path) -> Path | None:
    """The HTML copy of an executed notebook (None, logged, if nbconvert fails).

    Sanitised (nbconvert's ``sanitize_html``: bleach on Markdown, HTML and SVG, JavaScript
    outputs and widget state left out): a dataset or column name such as ``<img src=x
    onerror=...>`` that reached an output cannot run in whoever opens ``runs/*.html``."""
    try:
        from nbconvert import HTMLExporter

        exporter = HTMLExporter(sanitize_html=True, filters={"clean_html": clean_html})
        body, _ = exporter.from_notebook_node(read_notebook(notebook))
        tmp = html.with_suffix(".html.tmp")
        tmp.write_text(body, encoding="utf-8")
        tmp.replace(html)
        return html
    except Exception as exc:
        logger.warning("no HTML copy of %s: %s", notebook, exc)
        return None
