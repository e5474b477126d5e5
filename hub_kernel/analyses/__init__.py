"""The analysis catalog: a registry of analyses, each returning a result a tile can render and
that carries the facts a report may state.

>>> from hub_kernel.analyses import run_analyses
>>> results = run_analyses(frame)                     # every analysis that applies
>>> results["trend"].facts[0].text

Built in: ``summary``, ``distributions``, ``correlations``, ``missingness``, ``outliers``,
``trend`` (trend and seasonality over a date column), ``segments`` (categorical x numeric),
``clustering``, and with a target ``feature_importance`` and ``supervised_model``.
``key_findings(result)`` is what a tile or a report leads with (ranked by effect size and
support corrected for the comparisons made) and ``support(result)`` how well the statistics
back it, in [0, 1] (``hub_kernel.analyses.findings``). Importing
this package stays light (scipy and scikit-learn load when an analysis runs).
"""

from __future__ import annotations

from hub_kernel.analyses.base import (
    Analysis,
    AnalysisRegistry,
    AnalysisResult,
    Fact,
    format_number,
    on_column,
)
from hub_kernel.analyses.catalog import analysis_registry, available, get, register, run_analyses
from hub_kernel.analyses.findings import Finding, findings, key_findings, rank_findings, support
from hub_kernel.exceptions import AnalysisError, AnalysisRequestError, UnknownAnalysisError

__all__ = [
    "Analysis",
    "AnalysisError",
    "AnalysisRegistry",
    "AnalysisRequestError",
    "AnalysisResult",
    "Fact",
    "Finding",
    "UnknownAnalysisError",
    "analysis_registry",
    "available",
    "findings",
    "format_number",
    "get",
    "key_findings",
    "on_column",
    "rank_findings",
    "register",
    "run_analyses",
    "support",
]
