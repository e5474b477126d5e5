"""Exporting reports: papermill runs ``notebooks/analysis.ipynb``, nbconvert writes the file.

``export_report`` executes the analysis notebook with its parameters (dataset, audience,
sections, model...) in a ``python3`` kernel, keeps the executed copy under
``$HUB_HOME/reports/``, takes the report's outputs from it (never a code cell) and hands them to
an exporter. Exporters are a registry (``register_exporter``, ``get_exporter``; packages may add
their own in the ``hub.exporters`` entry-point group): ``html`` (hub's nbconvert template in
``reports_templates/hub``), ``pdf`` (that HTML printed to PDF by Debian's Chromium through
Playwright; no browser is ever downloaded) and ``md`` (``reports_templates/hub_markdown``).
Each export is announced on the event bus as ``report_exported``.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from hub_kernel.agents.report.sections import audience as audience_spec
from hub_kernel.agents.report.sections import check_sections
from hub_kernel.core.paths import SOURCE_TREE
from hub_kernel.core.registry import Registry
from hub_kernel.exceptions import RegistryError, ReportError
from hub_kernel.reports.compose import REPORT_MIME, SECTION_MIME
from hub_kernel.reports.narrative import md_escape

logger = logging.getLogger("hub_kernel")

NOTEBOOK = SOURCE_TREE / "notebooks" / "analysis.ipynb"
TEMPLATES = SOURCE_TREE / "reports_templates"
KERNEL_NAME = "python3"
_ENTRY_POINT_GROUP = "hub.exporters"


@dataclass(frozen=True)
class ExportResult:
    """Where a report was written, and what it holds."""

    path: Path
    format: str
    audience: str
    dataset: str
    report_id: str
    sections: tuple[str, ...]
    notebook: Path | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


# -- exporters ------------------------------------------------------------------------------
class Exporter:
    """Writes a report notebook (``report_notebook``) to a file. Subclasses fill ``_export``."""

    name: ClassVar[str] = ""
    extension: ClassVar[str] = ""

    def export(self, nb: Any, out: Path) -> Path:
        """Write ``nb`` to ``out`` (created with its folder; replaced atomically)."""
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        try:
            self._export(nb, tmp)
            tmp.replace(out)
        except ReportError:
            raise
        except Exception as exc:
            raise ReportError(f"{self.name} export to {out} failed: "
                              f"{type(exc).__name__}: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        return out

    def _export(self, nb: Any, out: Path) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


def _only(nb: Any, mime: str) -> Any:
    """A copy of ``nb`` whose outputs keep only ``mime``."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            output["data"] = {mime: output["data"][mime]} if mime in output.get("data", {}) \
                else {}
    return nb


def _html(nb: Any) -> str:
    from nbconvert import HTMLExporter

    from hub_kernel.reports.charts import bokehjs_inline

    exporter = HTMLExporter(template_name="hub", extra_template_basedirs=[str(TEMPLATES)])
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    exporter.exclude_markdown = True
    exporter.exclude_raw = True
    charts = any("hub-chart" in str(o.get("data", {}).get("text/html", ""))
                 for c in nb.cells for o in c.get("outputs", []))
    resources = {"hub": {"bokehjs": bokehjs_inline() if charts else ""},
                 "metadata": {"name": nb.metadata.get("hub_report", {}).get("title", "report")}}
    body, _ = exporter.from_notebook_node(_only(nb, "text/html"), resources=resources)
    return str(body)


class HtmlExporter(Exporter):
    """A standalone HTML page (hub's ``reports_templates/hub``)."""

    name = "html"
    extension = "html"

    def _export(self, nb: Any, out: Path) -> None:
        out.write_text(_html(nb), encoding="utf-8")


def slug(text: str) -> str:
    """The anchor a Markdown renderer gives a heading (GitHub style)."""
    return re.sub(r"[^\w\- ]", "", text.lower()).strip().replace(" ", "-")


class MarkdownExporter(Exporter):
    """Markdown (``reports_templates/hub_markdown``); charts are left out."""

    name = "md"
    extension = "md"

    def _export(self, nb: Any, out: Path) -> None:
        from nbconvert import MarkdownExporter as NbMarkdown

        exporter = NbMarkdown(template_name="hub_markdown",
                              extra_template_basedirs=[str(TEMPLATES)])
        exporter.exclude_input = True
        exporter.exclude_markdown = True
        exporter.exclude_raw = True
        report = nb.metadata.get("hub_report", {})
        details = [("Dataset", report.get("dataset")), ("Audience", report.get("audience")),
                   ("Model", report.get("model")), ("Target", report.get("target")),
                   ("Created", report.get("created"))]
        resources = {"hub": {
            "title_md": md_escape(report.get("title", "Report")),
            "details_md": [(k, md_escape(str(v))) for k, v in details if v],
            "toc_md": [(md_escape(s["title"]), slug(s["title"]))
                       for s in report.get("sections", [])],
        }}
        body, _ = exporter.from_notebook_node(_only(nb, "text/markdown"), resources=resources)
        text = re.sub(r"\n{3,}", "\n\n", str(body)).strip() + "\n"
        out.write_text(text, encoding="utf-8")


class PdfExporter(Exporter):
    """The HTML report printed to PDF (A4) by Chromium (``Settings.browser_path``)."""

    name = "pdf"
    extension = "pdf"
    timeout_ms: ClassVar[int] = 60_000

    def _export(self, nb: Any, out: Path) -> None:
        n_charts = sum(str(o.get("data", {}).get("text/html", "")).count("hub-chart")
                       for c in nb.cells for o in c.get("outputs", []))
        with tempfile.TemporaryDirectory(prefix="hub-report-") as folder:
            page = Path(folder) / "report.html"
            page.write_text(_html(nb), encoding="utf-8")
            _off_loop(lambda: print_pdf(page, out, n_charts, self.timeout_ms))


def _off_loop(work: Callable[[], None]) -> None:
    """Run ``work`` in a thread when this thread has a running event loop (a notebook kernel):
    Playwright's sync API refuses to run inside one."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        work()
        return
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="hub-report-pdf")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


CHROMIUM_ARGS = ("--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync")


def check_pdf_printer() -> Path:
    """Debian's Chromium and playwright, which print PDFs; ``ReportError`` naming the fix."""
    from hub_kernel.core.config import get_settings

    browser_path = Path(get_settings().browser_path)
    if not browser_path.is_file():
        raise ReportError(f"no Chromium at {browser_path} to print the PDF: install it "
                          "(`apt-get install chromium`) or set HUB_BROWSER_PATH")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        raise ReportError("PDF export needs playwright: pip install 'hub[dev]' (no browser "
                          "download: Debian's Chromium is used)") from exc
    return browser_path


def print_pdf(page_path: Path, out: Path, n_charts: int = 0, timeout_ms: int = 60_000) -> None:
    """Print an HTML file to PDF with Chromium, after its bokeh charts have rendered."""
    browser_path = check_pdf_printer()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(browser_path), args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page()
            page.goto(page_path.resolve().as_uri(), wait_until="load", timeout=timeout_ms)
            if n_charts:
                page.wait_for_function(
                    "n => window.Bokeh !== undefined && Bokeh.documents.length >= n &&"
                    " document.querySelectorAll('.bk-Figure, .bk-Plot').length >= n",
                    arg=n_charts, timeout=timeout_ms)
                page.wait_for_timeout(300)  # let the canvases paint
            page.emulate_media(media="print")
            page.pdf(path=str(out), format="A4", print_background=True,
                     margin={"top": "16mm", "bottom": "16mm", "left": "14mm", "right": "14mm"},
                     display_header_footer=True, header_template="<span></span>",
                     footer_template="<div style='font-size:8px;width:100%;text-align:center;"
                                     "color:#777'><span class='pageNumber'></span> / "
                                     "<span class='totalPages'></span></div>")
        finally:
            browser.close()


def _exporter_class(exporter: Any) -> type[Exporter]:
    if not (isinstance(exporter, type) and issubclass(exporter, Exporter)):
        raise RegistryError(f"{exporter!r} is not an Exporter subclass")
    return exporter


#: exporter classes by format name (``html``, ``pdf``, ``md``, then the ``hub.exporters``
#: entry points and any registered)
exporters: Registry[type[Exporter]] = Registry(
    "report format", plural="formats", entry_point_group=_ENTRY_POINT_GROUP,
    builtins=lambda: [("html", HtmlExporter), ("pdf", PdfExporter), ("md", MarkdownExporter)],
    check=_exporter_class, error=RegistryError)


def register_exporter(exporter: type[Exporter], name: str | None = None) -> None:
    """Make ``exporter`` available as a report format."""
    exporters.register(exporter, name)


def get_exporter(name: str) -> Exporter:
    """The exporter of format ``name``; ``RegistryError`` names the known formats."""
    return exporters.get(name)()


# -- the notebook ---------------------------------------------------------------------------
def report_notebook(executed: Any) -> Any:
    """A notebook holding only the report: one cell per section output, the header as
    ``metadata.hub_report``. ``ReportError`` if the notebook displayed no report."""
    import nbformat

    header: dict[str, Any] | None = None
    cells = []
    for cell in executed.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if REPORT_MIME in data:
                header = dict(data[REPORT_MIME])
            elif SECTION_MIME in data:
                out = nbformat.v4.new_output("display_data", data=dict(data),
                                             metadata=dict(output.get("metadata", {})))
                cells.append(nbformat.v4.new_code_cell(source="", outputs=[out]))
    if header is None:
        raise ReportError("the analysis notebook displayed no report (no output of type "
                          f"{REPORT_MIME})")
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["hub_report"] = header
    nb.metadata["title"] = header.get("title", "report")
    if executed.metadata.get("kernelspec"):
        nb.metadata["kernelspec"] = executed.metadata["kernelspec"]
    nb.metadata["language_info"] = executed.metadata.get("language_info", {"name": "python"})
    return nb


def notebook_of(report: Any) -> Any:
    """The report notebook of a ``Report`` composed in this process (no papermill run)."""
    import nbformat

    outputs = [nbformat.v4.new_output("display_data", data=data, metadata=metadata)
               for data, metadata in report.bundles()]
    executed = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(outputs=outputs)])
    executed.metadata["language_info"] = {"name": "python"}
    return report_notebook(executed)


def write_report(report: Any, fmt: str = "html", out: str | os.PathLike[str] | None = None
                 ) -> Path:
    """Export a ``Report`` composed in this process as ``fmt`` (announced on the bus)."""
    from hub_kernel.core.bus import default_bus

    exporter = get_exporter(fmt)
    path = Path(out) if out is not None else default_path(report.dataset, report.audience, fmt,
                                                           exporter.extension)
    written = exporter.export(notebook_of(report), path)
    default_bus().publish("report_exported", path=str(written), format=fmt,
                          audience=report.audience, dataset=report.dataset, report=report.id,
                          sections=[s.id for s in report.sections])
    return written


def _kernel_manager(env: Mapping[str, str]) -> type:
    """An ``AsyncKernelManager`` starting kernels with ``env`` (hub's home) added."""
    from jupyter_client.manager import AsyncKernelManager

    class ReportKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
            kw["env"] = {**os.environ, **(kw.get("env") or {}), **env}
            await super().start_kernel(**kw)

    return ReportKernelManager


def execute_analysis(parameters: Mapping[str, Any], output: Path,
                     notebook: Path = NOTEBOOK, timeout: float | None = 600) -> Any:
    """Run the analysis notebook with papermill; returns the executed notebook."""
    import nbformat
    import papermill

    from hub_kernel.core.config import get_settings

    if not notebook.is_file():
        raise ReportError(f"analysis notebook not found: {notebook}")
    output.parent.mkdir(parents=True, exist_ok=True)
    env = {"HUB_HOME": str(get_settings().home),
           "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    env_file = Path(os.environ.get("HUB_ENV_FILE", ".env"))
    if env_file.is_file():
        env["HUB_ENV_FILE"] = str(env_file.resolve())
    try:
        papermill.execute_notebook(
            str(notebook), str(output), parameters=dict(parameters), kernel_name=KERNEL_NAME,
            progress_bar=False, execution_timeout=timeout,
            resources={"metadata": {"path": str(notebook.parent)}},
            kernel_manager_class=_kernel_manager(env))
    except Exception as exc:
        ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
        why = f"{ename}: {evalue}" if ename else f"{type(exc).__name__}: {exc}"
        raise ReportError(f"the analysis notebook failed ({why}); the executed copy is "
                          f"{output}") from exc
    return nbformat.read(str(output), as_version=4)


def default_path(dataset: str, audience: str, fmt: str, extension: str) -> Path:
    """``$HUB_HOME/reports/<dataset>-<audience>-<UTC time>.<ext>``."""
    from hub_kernel.core.config import get_settings

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", dataset).strip("-.") or "data"
    return get_settings().home / "reports" / f"{safe}-{audience}-{stamp}.{extension or fmt}"


def export_report(dataset: str | os.PathLike[str] | None = None, *,
                  audience: str = "executive", fmt: str = "html",
                  out: str | os.PathLike[str] | None = None, model: str | None = None,
                  target: str | None = None, sections: Sequence[str] | None = None,
                  title: str | None = None, notebook: Path = NOTEBOOK) -> ExportResult:
    """Run the analysis notebook on ``dataset`` for ``audience`` and write it as ``fmt``."""
    from hub_kernel.core.bus import default_bus

    started = time.perf_counter()
    audience_spec(audience)
    exporter = get_exporter(fmt)
    if fmt == "pdf":  # before minutes of work, not after
        check_pdf_printer()
    if sections:
        sections = check_sections(list(sections))
    if dataset is not None and Path(dataset).expanduser().is_file():
        dataset = str(Path(dataset).expanduser().resolve())  # the kernel runs elsewhere
    name = Path(str(dataset)).stem if dataset is not None else "seattle-weather"
    path = Path(out) if out is not None else default_path(name, audience, fmt,
                                                           exporter.extension)
    executed_path = default_path(name, audience, fmt, "ipynb")
    parameters = {"dataset": None if dataset is None else str(dataset), "audience": audience,
                  "sections": list(sections) if sections else None, "model": model,
                  "target": target, "title": title}
    executed = execute_analysis(parameters, executed_path, notebook)
    nb = report_notebook(executed)
    written = exporter.export(nb, path)
    header = nb.metadata["hub_report"]
    result = ExportResult(
        path=written, format=fmt, audience=audience, dataset=str(header.get("dataset", name)),
        report_id=str(header.get("id", "")),
        sections=tuple(s["id"] for s in header.get("sections", [])), notebook=executed_path,
        seconds=time.perf_counter() - started)
    default_bus().publish("report_exported", path=str(written), format=fmt, audience=audience,
                          dataset=result.dataset, report=result.report_id,
                          sections=list(result.sections))
    logger.info("report %s (%s, %s) written to %s in %.1f s", result.report_id, audience, fmt,
                written, result.seconds)
    return result
