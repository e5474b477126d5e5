"""Composing a report: data -> analyses -> sections chosen by the agent -> narrative, charts.

``compose_report`` is what ``notebooks/analysis.ipynb`` calls. The dataset is a catalog name or
id, a file path, a bundled sample name, or None (the bundled sample). The Report Generation
Agent's learner (``hub_kernel.agents.report.learner.SectionLearner``) chooses and orders the
sections for the audience from those the data supports, unless ``sections`` names them. Only the
analyses those sections need are run.

A ``Report`` displays itself in a notebook as one output per section, each a MIME bundle with
HTML (data escaped), Markdown (data escaped) and a JSON header (``SECTION_MIME``) that hub's
nbconvert templates read to build the title page and the table of contents.
"""

from __future__ import annotations

import html
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from hub_kernel.agents.report.learner import SectionDecision, SectionLearner
from hub_kernel.agents.report.sections import SECTIONS, check_sections
from hub_kernel.agents.report.sections import audience as audience_spec
from hub_kernel.analyses.base import AnalysisResult, Fact
from hub_kernel.core.formatting import format_number
from hub_kernel.exceptions import HubError, ReportError
from hub_kernel.reports import lead, story
from hub_kernel.reports.narrative import (
    Glossary,
    Narrative,
    Sentence,
    SentenceBuilder,
    get_backend,
    md_escape,
    rephrase,
)

logger = logging.getLogger("hub_kernel")

REPORT_MIME = "application/vnd.hub.report+json"
SECTION_MIME = "application/vnd.hub.report-section+json"

#: the analyses each section draws on (run only when the section is chosen)
SECTION_ANALYSES: dict[str, tuple[str, ...]] = {
    "key_findings": (),
    "overview": ("summary",),
    "trends": ("trend",),
    "differences": ("segments",),
    "predictors": ("feature_importance", "correlations"),
    "distributions": ("distributions",),
    "correlations": ("correlations",),
    "clusters": ("clustering",),
    "data_quality": ("missingness", "outliers"),
    "model": ("supervised_model",),
    "validation": ("supervised_model", "feature_importance"),
    "drift": (),
    "fairness": (),
    "statistics": ("summary",),
}
#: what key findings are drawn from (cheap analyses; the chosen sections add theirs)
KEY_FINDING_ANALYSES = ("summary", "trend", "segments", "correlations", "missingness")
#: the target column of a bundled sample when none is given (the retrain notebook's model)
SAMPLE_TARGETS = {"seattle-weather": "temp_max"}
#: analysis parameters of reports: a quick model (one family, a short budget) is enough to say
#: how predictable the target is; `hub train` does the full search
ANALYSIS_PARAMS: dict[str, dict[str, Any]] = {
    "supervised_model": {"search": False, "budget": 5.0},
}
MIN_DRIFT_ROWS = 40
TABLE_ROWS = 15


@dataclass
class ReportSection:
    """One section: sentences, and optionally a table, a chart and notes."""

    id: str
    title: str
    sentences: list[Sentence] = field(default_factory=list)
    table: pd.DataFrame | None = None
    chart: dict[str, Any] | None = None
    chart_title: str = ""
    notes: list[str] = field(default_factory=list)
    ordered: bool = False

    @property
    def anchor(self) -> str:
        return f"hub-sec-{self.id}"

    def to_html(self, charts: bool = True) -> str:
        """The section as HTML; every name and value from the data is escaped."""
        tag = "ol" if self.ordered else "ul"
        parts = [f"<section class='hub-section' id='{self.anchor}' data-section='{self.id}'>",
                 f"<h2 class='hub-section-title'>{html.escape(self.title)}</h2>"]
        if self.sentences:
            items = "".join(f"<li>{s.to_html()}</li>" for s in self.sentences)
            parts.append(f"<{tag} class='hub-narrative'>{items}</{tag}>")
        else:
            parts.append("<p class='hub-empty'>Nothing to report here for this data.</p>")
        if charts and self.chart:
            from hub_kernel.reports.charts import chart_html

            parts.append(chart_html(self.chart, self.chart_title))
        if self.table is not None and not self.table.empty:
            parts.append(table_html(self.table))
        if self.notes:
            notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
            parts.append(f"<aside class='hub-notes'><p>Notes</p><ul>{notes}</ul></aside>")
        parts.append("</section>")
        return "".join(parts)

    def to_markdown(self) -> str:
        """The section as Markdown; names and values from the data are escaped."""
        lines = [f"## {md_escape(self.title)}", ""]
        if self.sentences:
            for i, s in enumerate(self.sentences, 1):
                lines.append(f"{i}. {s.to_markdown()}" if self.ordered else
                             f"- {s.to_markdown()}")
        else:
            lines.append("Nothing to report here for this data.")
        if self.chart:
            lines += ["", "*(chart in the HTML and PDF versions)*"]
        if self.table is not None and not self.table.empty:
            lines += ["", table_markdown(self.table)]
        if self.notes:
            lines += ["", "**Notes**", ""] + [f"- {md_escape(n)}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def to_text(self) -> str:
        return "\n".join([self.title, *(f"- {s.text}" for s in self.sentences)])

    def header(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "anchor": self.anchor,
                "facts": sorted({k for s in self.sentences for k in s.keys})}


def _cell(value: Any, column: Any = "") -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""  # an empty cell, not "nan"
    if isinstance(value, float):
        return format_number(value, p_value="p_value" in str(column) or
                             "p_adjusted" in str(column))
    return str(value)


def table_html(table: pd.DataFrame, rows: int = TABLE_ROWS) -> str:
    """A small HTML table; headers and cells escaped."""
    shown = table.head(rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v, c))}</td>"
                                    for c, v in zip(shown.columns, row, strict=True)) + "</tr>"
                   for row in shown.itertuples(index=False, name=None))
    more = (f"<p class='hub-more'>First {rows} of {len(table)} rows.</p>"
            if len(table) > rows else "")
    return (f"<div class='hub-table-wrap'><table class='hub-table'><thead><tr>{head}</tr>"
            f"</thead><tbody>{body}</tbody></table>{more}</div>")


def table_markdown(table: pd.DataFrame, rows: int = TABLE_ROWS) -> str:
    """A Markdown pipe table; headers and cells escaped."""
    shown = table.head(rows)
    header = "| " + " | ".join(md_escape(str(c)) for c in shown.columns) + " |"
    rule = "|" + "|".join(" --- " for _ in shown.columns) + "|"
    body = ["| " + " | ".join(md_escape(_cell(v, c)) for c, v in zip(shown.columns, row,
                                                                       strict=True)) + " |"
            for row in shown.itertuples(index=False, name=None)]
    more = ["", f"First {rows} of {len(table)} rows."] if len(table) > rows else []
    return "\n".join([header, rule, *body, *more])


@dataclass
class Report:
    """A composed report: its sections in order, the facts behind every number, the decision."""

    title: str
    dataset: str
    audience: str
    sections: list[ReportSection]
    facts: dict[str, Fact]
    results: dict[str, AnalysisResult] = field(default_factory=dict)
    decision: SectionDecision | None = None
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(
        timespec="seconds"))
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    model: str | None = None
    target: str | None = None
    max_charts: int | None = None

    @property
    def sentences(self) -> list[Sentence]:
        return [s for section in self.sections for s in section.sentences]

    def section(self, section_id: str) -> ReportSection:
        for s in self.sections:
            if s.id == section_id:
                return s
        raise KeyError(section_id)

    def header(self) -> dict[str, Any]:
        """What the templates need for the title page and table of contents."""
        return {"id": self.id, "title": self.title, "dataset": self.dataset,
                "audience": self.audience, "created": self.created, "model": self.model,
                "target": self.target,
                "sections": [s.header() for s in self.sections],
                "facts": {k: f.to_dict() for k, f in self.facts.items()},
                "decision": self.decision.to_dict() if self.decision else None}

    def charted(self) -> set[str]:
        """Ids of the sections whose chart is drawn (the audience's chart budget, in order)."""
        ids = [s.id for s in self.sections if s.chart]
        return set(ids if self.max_charts is None else ids[: self.max_charts])

    def bundles(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """``(data, metadata)`` MIME bundles: the report header, then one per section."""
        charted = self.charted()
        head = self.header()
        out: list[tuple[dict[str, Any], dict[str, Any]]] = [(
            {REPORT_MIME: head, "text/plain": f"{self.title} ({self.audience})",
             "text/markdown": f"# {md_escape(self.title)}\n"},
            {"hub": {"kind": "report"}})]
        for section in self.sections:
            out.append(({SECTION_MIME: {**section.header(), "report": self.id},
                         "text/html": section.to_html(charts=section.id in charted),
                         "text/markdown": section.to_markdown(),
                         "text/plain": section.to_text()},
                        {"hub": {"kind": "section", "id": section.id}}))
        return out

    def display(self) -> None:
        """Show the report in a notebook (one output per section)."""
        from IPython.display import display

        for data, metadata in self.bundles():
            display(data, raw=True, metadata=metadata)

    def to_markdown(self) -> str:
        return "\n".join(section.to_markdown() for section in self.sections)

    def _repr_markdown_(self) -> str:
        return f"# {md_escape(self.title)}\n\n" + self.to_markdown()


# -- data -----------------------------------------------------------------------------------
def resolve_dataset(dataset: str | Path | None) -> tuple[pd.DataFrame, str]:
    """``(frame, name)`` of a catalog dataset, a file, a bundled sample or (None) the sample."""
    from hub_kernel.data import load_dataset, sample_path
    from hub_kernel.data.samples import DEFAULT_SAMPLE, SAMPLES

    if dataset is None or str(dataset) in SAMPLES:
        name = DEFAULT_SAMPLE if dataset is None else str(dataset)
        return load_dataset(sample_path(name)), name
    path = Path(dataset).expanduser()
    if path.is_file():
        return load_dataset(path), path.stem
    from hub_kernel.data.catalog import Catalog

    try:
        return Catalog().load(str(dataset)), str(dataset)
    except HubError as exc:
        raise ReportError(f"no dataset {str(dataset)!r}: not a file, a bundled sample or in the "
                          f"catalog ({exc}); `hub ingest PATH` adds one") from exc


def _model_info(model: str | None) -> Any | None:
    if not model:
        return None
    from hub_kernel.models.registry import ModelRegistry

    try:
        return ModelRegistry().get_model_info(model)
    except HubError as exc:
        raise ReportError(f"model {model!r}: {exc}") from exc


def _model_target(info: Any | None) -> str | None:
    if info is None:
        return None
    for v in sorted(info.versions, key=lambda v: (v.version != info.champion, -v.version)):
        if v.target:
            return str(v.target)
    return None


def _drift(frame: pd.DataFrame, profile: Any) -> tuple[Any, str] | None:
    """Drift between the older and newer half of the rows (by the first date column)."""
    from hub_kernel.models.lifecycle.drift import drift_report

    if len(frame) < MIN_DRIFT_ROWS:
        return None
    dates = [c.name for c in profile.of_kind("datetime")]
    ordered = frame.sort_values(dates[0], kind="stable") if dates else frame
    half = len(ordered) // 2
    how = "the earlier and the later half of the period" if dates else \
        "the first and the second half of the rows"
    try:
        return drift_report(ordered.iloc[:half], ordered.iloc[half:]), how
    except HubError as exc:
        logger.warning("no drift section: %s", exc)
        return None


# -- composing ------------------------------------------------------------------------------
def available_sections(profile: Any, target: str | None, info: Any | None,
                       analyses: Sequence[str]) -> list[str]:
    """Sections this data (and model) can fill, in catalogue order."""
    out = []
    for section, needs in SECTION_ANALYSES.items():
        if section == "key_findings":
            ok = True
        elif section == "drift":
            ok = profile.n_rows >= MIN_DRIFT_ROWS and bool(
                profile.of_kind("numeric", "categorical"))
        elif section == "fairness":
            ok = info is not None
        elif section in ("model", "validation"):
            ok = info is not None or any(a in analyses for a in needs)
        else:
            ok = any(a in analyses for a in needs)
        if ok:
            out.append(section)
    return out


def compose_report(dataset: str | Path | None = None, *, audience: str = "executive",
                   sections: Sequence[str] | None = None, model: str | None = None,
                   target: str | None = None, title: str | None = None,
                   frame: pd.DataFrame | None = None, learner: SectionLearner | None = None,
                   glossary: Mapping[str, str] | None = None,
                   analysis_params: Mapping[str, Mapping[str, Any]] | None = None) -> Report:
    """Compose the report on ``dataset`` for ``audience`` (see the module docstring).

    ``frame`` gives the data directly (``dataset`` then only names it). ``sections`` fixes the
    sections (no agent decision); ``target`` the column predictors and models are about
    (default: the model's, or the bundled sample's). ``glossary`` overrides the settings';
    ``analysis_params`` the analyses' parameters (``ANALYSIS_PARAMS``).
    """
    from hub_kernel.analyses import available, run_analyses
    from hub_kernel.data.profile import profile_dataset, text_columns

    spec = audience_spec(audience)
    if frame is None:
        frame, name = resolve_dataset(dataset)
    else:
        name = str(dataset) if dataset is not None else "data"
    frame = text_columns(frame)
    profile = profile_dataset(frame)
    info = _model_info(model)
    target = target or _model_target(info) or (SAMPLE_TARGETS.get(name) if dataset is None or
                                               str(dataset) == name else None)
    if target is not None and target not in frame.columns:
        if target == SAMPLE_TARGETS.get(name):
            target = None
        else:
            raise ReportError(f"no column {target!r} in {name}; columns: "
                              f"{', '.join(map(str, frame.columns[:20]))}")
    applicable = available(profile, target)
    can = available_sections(profile, target, info, applicable)
    decision: SectionDecision | None = None
    if sections:
        chosen = check_sections(list(sections))
    else:
        learner = learner or SectionLearner()
        decision = learner.choose(audience, can, observation={
            "dataset": name, "rows": profile.n_rows, "columns": profile.n_columns,
            "kinds": sorted({c.kind for c in profile.columns}), "model": model,
            "target": target})
        chosen = list(decision.sections)
    wanted = {a for s in chosen for a in SECTION_ANALYSES.get(s, ())}
    if "key_findings" in chosen:
        wanted |= set(KEY_FINDING_ANALYSES)
        if target is not None:
            wanted.add("feature_importance")
    names = [a for a in applicable if a in wanted]
    params = {**ANALYSIS_PARAMS, **(analysis_params or {})}
    results = run_analyses(frame, profile, names=names, target=target, errors="skip",
                           params={k: v for k, v in params.items() if k in names})
    drift = _drift(frame, profile) if "drift" in chosen else None

    builder = SentenceBuilder(Glossary(get_glossary(glossary)))
    columns = tuple(str(c) for c in frame.columns)
    built = _build_sections(builder, chosen, results, info, drift, name, columns, spec)
    narrative = Narrative([s for sec in built for s in sec.sentences], builder.facts)
    if "key_findings" in chosen:
        ranked = lead.finding_sentences(builder, results, columns, spec.key_findings)
        extra = _all_sentences(builder, results, info, drift, name, columns)
        pool = Narrative(_dedupe([*ranked, *narrative.sentences, *extra]), builder.facts)
        findings = next(s for s in built if s.id == "key_findings")
        findings.sentences = pool.key_findings(spec.key_findings, lead.passed_over(results))
    rephrase([s for sec in built for s in sec.sentences], audience, get_backend())
    used = {k for sec in built for s in sec.sentences for k in s.keys}
    report = Report(
        title=title or f"{name}: report for {audience} readers", dataset=name,
        audience=audience, sections=built,
        facts={k: f for k, f in builder.facts.items() if k in used}, results=dict(results),
        decision=decision, model=model, target=target, max_charts=spec.max_charts)
    logger.info("report %s on %s for %s: %s", report.id, name, audience,
                ", ".join(s.id for s in built))
    return report


def get_glossary(override: Mapping[str, str] | None) -> dict[str, str]:
    if override is not None:
        return dict(override)
    from hub_kernel.core.config import get_settings

    return dict(get_settings().glossary)


def _dedupe(sentences: list[Sentence]) -> list[Sentence]:
    seen: set[str] = set()
    out = []
    for s in sentences:
        if s.text not in seen:
            seen.add(s.text)
            out.append(s)
    return out


def _all_sentences(b: SentenceBuilder, results: Mapping[str, AnalysisResult], info: Any,
                   drift: tuple[Any, str] | None, name: str, columns: tuple[str, ...]
                   ) -> list[Sentence]:
    out = [*story.trend_sentences(b, results), *story.difference_sentences(b, results),
           *story.predictor_sentences(b, results, columns),
           *story.model_sentences(b, results, info, columns),
           *story.quality_sentences(b, results, columns),
           *story.clustering_sentences(b, results)]
    if drift is not None:
        out += story.drift_sentences(b, *drift)
    return out


def _build_sections(b: SentenceBuilder, chosen: list[str],
                    results: Mapping[str, AnalysisResult], info: Any,
                    drift: tuple[Any, str] | None, name: str, columns: tuple[str, ...],
                    spec: Any) -> list[ReportSection]:
    out = []
    for section_id in chosen:
        section = ReportSection(section_id, SECTIONS[section_id].title)
        main: AnalysisResult | None = None
        if section_id == "key_findings":
            section.ordered = True
        elif section_id == "overview":
            section.sentences = story.overview_sentences(b, results, name)
        elif section_id == "trends":
            section.sentences = story.trend_sentences(b, results)
            main = results.get("trend")
        elif section_id == "differences":
            section.sentences = story.difference_sentences(b, results)
            main = results.get("segments")
        elif section_id == "predictors":
            section.sentences = story.predictor_sentences(b, results, columns)
            main = results.get("feature_importance") or results.get("correlations")
        elif section_id == "distributions":
            main = results.get("distributions")
            section.sentences = story.fact_sentences(b, main, "distribution", columns, limit=8)
        elif section_id == "correlations":
            main = results.get("correlations")
            section.sentences = story.fact_sentences(b, main, "correlation", columns, limit=8)
        elif section_id == "clusters":
            main = results.get("clustering")
            section.sentences = story.clustering_sentences(b, results)
        elif section_id == "data_quality":
            section.sentences = story.quality_sentences(b, results, columns)
            main = results.get("missingness") or results.get("outliers")
            section.notes = [f"{r.title}: {c}" for r in results.values() for c in r.caveats]
        elif section_id == "model":
            section.sentences = story.model_sentences(b, results, info, columns)
            main = results.get("supervised_model")
        elif section_id == "validation":
            if info is not None:
                section.table = pd.DataFrame(story.validation_rows(info))
            section.sentences = story.validation_sentences(b, results, columns)
            model = results.get("supervised_model")
            if model is not None and section.table is None:
                section.table = model.table
        elif section_id == "drift" and drift is not None:
            section.sentences = story.drift_sentences(b, *drift)
            section.table = drift[0].to_frame()[["feature", "kind", "psi", "p_value",
                                                 "drifted"]]
        elif section_id == "fairness":
            section.sentences, section.notes = story.fairness_sentences(b, info)
        elif section_id == "statistics":
            summary = results.get("summary")
            section.sentences = story.fact_sentences(b, summary, "summary", columns, limit=12)
            if summary is not None:
                section.table = summary.table
        if main is not None:
            section.chart = main.chart
            section.chart_title = main.title
            if spec.tables and section.table is None:
                section.table = main.table
            if section_id != "data_quality":
                section.notes += list(main.caveats)
        if not spec.tables and section_id not in ("validation",):
            section.table = None
        out.append(section)
    return out
