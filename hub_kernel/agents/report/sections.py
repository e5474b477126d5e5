"""The sections a report can hold, and what each audience is thought to want before feedback.

``SECTIONS`` names every section (id -> title and what it draws on). ``AUDIENCES`` gives, per
audience, the prior appeal of each section (the bandit's starting belief, overridden by reader
feedback), the sections pinned at the top, how many sections a report holds, and how many
charts and whether tables are shown (executive: few charts, no tables). ``SECTION_TILES`` names
the dashboard tiles that tell the same story as a section (what people value in one informs the
other, ``learner.TileTransfer``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hub_kernel.exceptions import ReportError
from hub_kernel.layout import analysis_kind


@dataclass(frozen=True)
class SectionSpec:
    id: str
    title: str
    description: str


SECTIONS: dict[str, SectionSpec] = {s.id: s for s in (
    SectionSpec("key_findings", "Key findings", "the most important sentences, first"),
    SectionSpec("overview", "Overview", "size, columns and time span of the data"),
    SectionSpec("trends", "Trends over time", "how numeric columns moved over time"),
    SectionSpec("differences", "Largest differences", "where groups differ most"),
    SectionSpec("predictors", "Strongest predictors", "what moves the target most"),
    SectionSpec("distributions", "Distributions", "shape and spread of each column"),
    SectionSpec("correlations", "Correlations", "which columns move together"),
    SectionSpec("clusters", "Clusters", "groups of similar rows"),
    SectionSpec("data_quality", "Data quality", "missing values, outliers and caveats"),
    SectionSpec("model", "Model quality", "how well the model predicts"),
    SectionSpec("validation", "Validation", "cross-validation and version history"),
    SectionSpec("drift", "Drift", "whether the data changed between periods"),
    SectionSpec("fairness", "Fairness", "the fairness checks of the model"),
    SectionSpec("statistics", "Statistics", "full per-column statistics"),
)}


#: per section, the dashboard tile kinds (``hub_kernel.layout``) that tell the same story;
#: sections without one (key findings, validation, drift, fairness) learn from reports only
SECTION_TILES: dict[str, tuple[str, ...]] = {
    "overview": (analysis_kind("summary"),),
    "trends": (analysis_kind("trend"),),
    "differences": (analysis_kind("segments"),),
    "predictors": (analysis_kind("feature_importance"),),
    "distributions": (analysis_kind("distributions"),),
    "correlations": (analysis_kind("correlations"),),
    "clusters": (analysis_kind("clustering"),),
    "data_quality": (analysis_kind("missingness"), analysis_kind("outliers")),
    "model": ("model", analysis_kind("supervised_model")),
    "statistics": (analysis_kind("summary"),),
}


@dataclass(frozen=True)
class AudienceSpec:
    name: str
    description: str
    prior: dict[str, float]  # prior appeal per section (missing: DEFAULT_APPEAL)
    pinned: tuple[str, ...] = ()
    n_sections: int = 5
    max_charts: int | None = None
    tables: bool = True
    key_findings: int = 5
    extra: dict[str, float] = field(default_factory=dict)

    def appeal(self, section: str) -> float:
        return self.prior.get(section, DEFAULT_APPEAL)


DEFAULT_APPEAL = 0.2

AUDIENCES: dict[str, AudienceSpec] = {a.name: a for a in (
    AudienceSpec(
        "executive", "key findings first, few charts",
        {"key_findings": 0.95, "trends": 0.8, "differences": 0.75, "predictors": 0.6,
         "model": 0.55, "data_quality": 0.45, "overview": 0.4},
        pinned=("key_findings",), n_sections=4, max_charts=2, tables=False, key_findings=5),
    AudienceSpec(
        "analyst", "full statistics",
        {"overview": 0.9, "distributions": 0.85, "correlations": 0.85, "trends": 0.8,
         "differences": 0.8, "data_quality": 0.8, "predictors": 0.75, "statistics": 0.75,
         "clusters": 0.7, "key_findings": 0.6, "model": 0.5, "validation": 0.4, "drift": 0.4,
         "fairness": 0.3},
        n_sections=10, max_charts=None, tables=True, key_findings=6),
    AudienceSpec(
        "technical", "models, validation, drift, fairness",
        {"model": 0.95, "validation": 0.9, "drift": 0.9, "fairness": 0.85, "predictors": 0.7,
         "data_quality": 0.65, "overview": 0.5, "statistics": 0.4, "key_findings": 0.35},
        n_sections=7, max_charts=4, tables=True, key_findings=4),
)}


def audience(name: str) -> AudienceSpec:
    """The audience called ``name``; ``ReportError`` naming the known ones."""
    try:
        return AUDIENCES[name]
    except KeyError:
        raise ReportError(f"unknown audience {name!r}; audiences: "
                          f"{', '.join(AUDIENCES)}") from None


def check_sections(names: list[str]) -> list[str]:
    """``names`` if they are all known sections; ``ReportError`` naming the known ones."""
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise ReportError(f"unknown report section(s) {', '.join(map(repr, unknown))}; "
                          f"sections: {', '.join(SECTIONS)}")
    return list(dict.fromkeys(names))
