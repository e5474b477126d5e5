"""Exported reports: sections per audience, no code, charts drawn offline, PDF pages, escaping."""

from __future__ import annotations

import re
import subprocess

import pytest

from hub_kernel.exceptions import RegistryError
from hub_kernel.reports.compose import compose_report
from hub_kernel.reports.export import get_exporter, write_report

from .conftest import HOSTILE, HOSTILE_VALUE

EXPECTED = {
    "executive": {"first": "key_findings", "has": {"key_findings", "trends"}, "n": 4},
    "analyst": {"first": "overview",
                "has": {"overview", "distributions", "correlations", "statistics",
                        "data_quality"}, "n": 10},
    "technical": {"first": "model", "has": {"model", "validation", "drift", "predictors"},
                  "n": 7},
}


def _section_ids(page: str) -> list[str]:
    # nbconvert re-serializes the HTML: double quotes, attributes sorted
    return re.findall(r'<section class="hub-section" data-section="(\w+)"', page)


@pytest.mark.parametrize("audience", list(EXPECTED))
def test_html_has_the_audiences_sections_a_title_page_contents_and_no_code(
        reports, tmp_path, audience):
    report = reports[audience]
    page = write_report(report, "html", tmp_path / "r.html").read_text()
    ids = _section_ids(page)
    expected = EXPECTED[audience]
    assert ids == [s.id for s in report.sections]
    assert len(ids) == min(expected["n"], len(ids)) and len(ids) >= 3
    assert expected["has"] <= set(ids)
    if expected["first"]:
        assert ids[0] == expected["first"]
    assert "class=\"hub-title-page\"" in page and "class=\"hub-toc\"" in page
    toc = re.search(r'<nav aria-label="Contents" class="hub-toc">.*?</nav>', page, re.S).group(0)
    assert re.findall(r'href="#hub-sec-(\w+)"', toc) == ids
    # no code: no input areas, no source of the notebook
    assert "class=\"jp-InputArea" not in page and "jp-Cell-inputWrapper\"" not in page
    assert "compose_report" not in page
    assert "highlight-ipynb" not in page
    # offline: no script or stylesheet from the network; BokehJS inline when charts are drawn
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"https?://", page)
    n_charts = page.count('<div class="hub-chart">')
    assert n_charts >= 1
    if audience == "executive":
        assert n_charts <= 2  # few charts
        assert 'class="hub-table"' not in page
    assert "embed_items" in page and "Bokeh Contributors" in page  # BokehJS inline
    assert "@media print" in page


def test_hostile_column_names_and_values_are_escaped_in_html_and_markdown(hostile, learner,
                                                                          tmp_path):
    report = compose_report("hostile", audience="analyst", frame=hostile, learner=learner,
                            sections=["overview", "correlations", "differences", "statistics",
                                      "distributions", "data_quality", "key_findings"],
                            title=f"Report {HOSTILE}")
    text = " ".join(s.text for s in report.sentences)
    assert HOSTILE in text  # the column is in the narrative...
    page = write_report(report, "html", tmp_path / "r.html").read_text()
    markdown = write_report(report, "md", tmp_path / "r.md").read_text()
    for rendered in (page, markdown):  # ...and never as markup
        assert HOSTILE not in rendered
        assert HOSTILE_VALUE not in rendered
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "# Report &lt;script&gt;alert(1)&lt;/script&gt;" in markdown


def test_markdown_has_title_contents_and_every_section(reports, tmp_path):
    report = reports["technical"]
    markdown = write_report(report, "md", tmp_path / "r.md").read_text()
    assert markdown.startswith("# seattle-weather: report for technical readers\n")
    assert "## Contents" in markdown
    headings = re.findall(r"^## (.+)$", markdown, re.M)
    assert headings == ["Contents", *[s.title for s in report.sections]]
    assert "```" not in markdown and "<div" not in markdown


def test_unknown_format_names_the_known_ones():
    with pytest.raises(RegistryError, match="formats: html, pdf, md"):
        get_exporter("docx")


def test_export_is_announced_on_the_bus(reports, tmp_path):
    from hub_kernel.core.bus import default_bus

    seen = []
    stop = default_bus().subscribe("report_exported", seen.append)
    try:
        report = reports["executive"]
        path = write_report(report, "md", tmp_path / "r.md")
    finally:
        stop()
    assert [e.payload["path"] for e in seen] == [str(path)]
    assert seen[0].payload["audience"] == "executive"


def _pgm_pixels(path) -> bytes:
    """The pixels of a binary PGM (what `pdftoppm -gray` writes)."""
    data = path.read_bytes()
    fields, rest = [], data
    while len(fields) < 4:
        rest = rest.lstrip()
        if rest.startswith(b"#"):
            rest = rest.split(b"\n", 1)[1]
            continue
        token, rest = rest.split(maxsplit=1) if len(fields) < 3 else (rest.split(b"\n", 1)[0],
                                                                        rest.split(b"\n", 1)[1])
        fields.append(token)
    assert fields[0] == b"P5"
    return rest


@pytest.mark.slow
def test_pdf_has_pages_with_content_and_charts_render_in_chromium(reports, tmp_path):
    report = reports["executive"]
    pdf = write_report(report, "pdf", tmp_path / "report.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    pages = int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M).group(1))
    assert pages >= 2  # the title page, then the report
    subprocess.run(["pdftoppm", "-gray", "-r", "40", "-f", "1", "-l", str(min(pages, 3)),
                    str(pdf), str(tmp_path / "page")], check=True)
    images = sorted(tmp_path.glob("page-*.pgm"))
    assert len(images) == min(pages, 3)
    dark = [sum(1 for b in _pgm_pixels(image) if b < 128) for image in images]
    assert all(d > 50 for d in dark), dark  # none is blank (title, contents, sections)
    assert max(dark) > 1000, dark  # the sections' text and charts

    # the charts really draw in the HTML: bokeh views with canvases
    from playwright.sync_api import sync_playwright

    from hub_kernel.reports.export import CHROMIUM_ARGS

    page_path = write_report(report, "html", tmp_path / "report.html")
    n_charts = page_path.read_text().count('<div class="hub-chart">')
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_path.as_uri())
            page.wait_for_function("n => window.Bokeh && Bokeh.documents.length >= n",
                                   arg=n_charts, timeout=30_000)
            assert page.locator("canvas").count() >= n_charts  # locators pierce shadow DOM
            assert errors == []
        finally:
            browser.close()
