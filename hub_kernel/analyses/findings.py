"""Findings worth a person's time: what an analysis found, ranked by effect size and statistical
support, with its p-values corrected for the number of comparisons it made.

Each analysis records the comparisons it made in ``result.data["tests"]``, one dict per test
(every pair of columns correlated, every segment x value pair compared, every trend and
seasonal period tried, every configuration searched):

- ``p_value``: the raw p-value, or None when the comparison states no test (a silhouette);
- ``effect``: the effect size on a correlation scale, in [0, 1]: |r|, eta (the square root of
  eta squared), the square root of an explained share (R², a seasonal strength, the part of
  the possible improvement over a baseline a model gains);
- ``measure``: what ``effect`` is, in words;
- ``facts``: the keys of the facts that state the comparison, headline first (empty: the test
  counts for the correction but no sentence states it);
- ``columns``: the columns it is about.

``result.data["excluded"]`` lists the comparisons left out of the key findings and why (a
column and its own transform, ``monotone_twins``).

The p-values of one analysis are corrected together: Holm's step-down method by default (it
bounds the chance of any false finding among the tests), Benjamini-Hochberg with
``method="bh"`` (it bounds the expected share of false findings). ``support`` maps a corrected
p-value to [0, 1] on a log scale: 0 at p = 1, 0.33 at 0.05, 0.5 at 0.01, 1 from 1e-4 down.
A finding's score is its effect times its support, so a strong effect that could be chance
and a certain but negligible one both rank low.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from hub_kernel.analyses.base import AnalysisResult, Fact
from hub_kernel.core.formatting import P_FLOOR

Method = Literal["holm", "bh"]
#: corrected p-value below which a finding is significant
ALPHA = 0.05
#: decades of corrected p-value from no support (p = 1) to full support (p = 1e-4)
SUPPORT_DECADES = 4.0
#: smallest effect worth a person's time (|r| = 0.1 is Cohen's "small")
MIN_EFFECT = 0.1
#: an untested finding (no p-value) is key only from this effect on, and ranks as if its
#: support were UNTESTED_SUPPORT
UNTESTED_MIN_EFFECT, UNTESTED_SUPPORT = 0.5, 0.5
#: |Spearman rho| from which two columns are taken for one another's transform
TWIN_RHO = 0.999


# -- corrections --------------------------------------------------------------------------------
def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as given)."""
    p = np.asarray(p_values, dtype="float64")
    m = len(p)
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted.tolist()


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (``scipy.stats.false_discovery_control``)."""
    from scipy.stats import false_discovery_control

    if len(p_values) == 0:
        return []
    return np.asarray(false_discovery_control(np.asarray(p_values, dtype="float64"),
                                              method="bh")).tolist()


def adjust(p_values: Sequence[float], method: Method = "holm") -> list[float]:
    """``p_values`` corrected for their number, by ``method`` (``holm`` or ``bh``)."""
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    raise ValueError(f"unknown correction {method!r}: use 'holm' or 'bh'")


def support_of(p_value: float | None) -> float | None:
    """How strongly a corrected p-value supports a finding, in [0, 1] (None: no test)."""
    if p_value is None or not math.isfinite(p_value):
        return None
    p = min(max(float(p_value), P_FLOOR), 1.0)
    return min(1.0, max(0.0, -math.log10(p) / SUPPORT_DECADES))


# -- what analyses record -------------------------------------------------------------------------
def comparison(*, p_value: float | None, effect: float, measure: str,
                facts: Iterable[str] = (), columns: Iterable[Any] = ()) -> dict[str, Any]:
    """One comparison as analyses record it in ``data["tests"]`` (see the module docstring)."""
    p = None if p_value is None or not math.isfinite(float(p_value)) else float(p_value)
    e = float(effect) if effect is not None and math.isfinite(float(effect)) else 0.0
    return {"p_value": p, "effect": min(max(e, 0.0), 1.0), "measure": measure,
            "facts": list(facts), "columns": [str(c) for c in columns]}


def monotone_twins(frame: pd.DataFrame, names: Sequence[str] | None = None,
                   spearman: pd.DataFrame | None = None,
                   threshold: float = TWIN_RHO) -> list[tuple[str, str]]:
    """Pairs of numeric columns in a near-perfect monotone relation (|Spearman rho| above
    ``threshold``): one is most likely a transform of the other (x and log x, x and 2x), so
    their relation is no finding. ``spearman`` reuses a computed rank-correlation matrix."""
    if spearman is None:
        columns = list(names) if names is not None else list(frame.columns)
        values = pd.DataFrame({c: pd.to_numeric(frame[c], errors="coerce") for c in columns})
        spearman = values.replace([np.inf, -np.inf], np.nan).corr(method="spearman")
    labels = [str(c) for c in spearman.columns]
    matrix = spearman.to_numpy(dtype="float64")
    return [(labels[i], labels[j]) for i in range(len(labels))
            for j in range(i + 1, len(labels))
            if np.isfinite(matrix[i, j]) and abs(matrix[i, j]) > threshold]


def twin_caveat(a: str, b: str) -> str:
    """Why a column and its transform are left out of the key findings (no number in it)."""
    return (f"{a} and {b} rise and fall in exactly the same order: one is probably a "
            "transform of the other, so their relation is left out of the key findings")


# -- findings ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """One stated comparison of an analysis, with its effect and its corrected support."""

    analysis: str
    facts: tuple[Fact, ...]
    effect: float
    measure: str
    p_value: float | None
    adjusted_p: float | None
    comparisons: int
    support: float | None
    columns: tuple[str, ...] = ()
    excluded: str | None = None

    @property
    def key(self) -> str:
        """The key of the headline fact."""
        return self.facts[0].key

    @property
    def text(self) -> str:
        """The facts' sentences, headline first."""
        return " ".join(f.text for f in self.facts)

    @property
    def score(self) -> float:
        """Effect times support: what findings are ranked by."""
        weight = self.support if self.support is not None else UNTESTED_SUPPORT
        return self.effect * weight

    @property
    def significant(self) -> bool:
        """Whether the corrected p-value is below ``ALPHA`` (False when untested)."""
        return self.adjusted_p is not None and self.adjusted_p < ALPHA

    @property
    def worth(self) -> bool:
        """Whether it is a key finding: not excluded, a large enough effect, supported."""
        if self.excluded is not None:
            return False
        if self.p_value is None:
            return self.effect >= UNTESTED_MIN_EFFECT
        return self.significant and self.effect >= MIN_EFFECT

    def to_dict(self) -> dict[str, Any]:
        return {"analysis": self.analysis, "key": self.key, "text": self.text,
                "facts": [f.key for f in self.facts], "effect": self.effect,
                "measure": self.measure, "p_value": self.p_value,
                "adjusted_p": self.adjusted_p, "comparisons": self.comparisons,
                "support": self.support, "score": self.score, "columns": list(self.columns),
                "excluded": self.excluded, "key_finding": self.worth}


def _excluded(result: AnalysisResult) -> dict[frozenset[str], str]:
    out = {}
    for item in result.data.get("excluded", []) or []:
        out[frozenset(str(c) for c in item.get("columns", []))] = str(item.get("why", ""))
    return out


def findings(result: AnalysisResult, method: Method = "holm") -> list[Finding]:
    """Every comparison ``result`` states in its facts, best score first (ties: the
    analysis's order), with p-values corrected over all the comparisons it made."""
    tests = list(result.data.get("tests", []) or [])
    tested = [i for i, t in enumerate(tests) if t.get("p_value") is not None]
    adjusted = dict(zip(tested, adjust([float(tests[i]["p_value"]) for i in tested], method),
                        strict=True))
    excluded = _excluded(result)
    by_key = {f.key: f for f in result.facts}
    out = []
    for i, test in enumerate(tests):
        facts = tuple(by_key[k] for k in test.get("facts", []) if k in by_key)
        if not facts:
            continue
        columns = tuple(str(c) for c in test.get("columns", []))
        adj = adjusted.get(i)
        out.append(Finding(
            analysis=result.name, facts=facts, effect=float(test.get("effect") or 0.0),
            measure=str(test.get("measure", "")), p_value=test.get("p_value"),
            adjusted_p=adj, comparisons=len(tested), support=support_of(adj),
            columns=columns, excluded=excluded.get(frozenset(columns)) if columns else None))
    order = {id(f): n for n, f in enumerate(out)}
    return sorted(out, key=lambda f: (-f.score, order[id(f)]))


def key_findings(result: AnalysisResult, limit: int | None = 3,
                 method: Method = "holm") -> list[Finding]:
    """What ``result`` should lead with: its findings worth a person's time (significant
    after correction, an effect of at least ``MIN_EFFECT``, no column against its own
    transform), best first. Counts of outliers or missing values are never among them."""
    chosen = [f for f in findings(result, method) if f.worth]
    return chosen if limit is None else chosen[:limit]


def support(result: AnalysisResult, method: Method = "holm") -> float | None:
    """How strongly the statistics support what ``result`` leads with, in [0, 1]: the support
    of its first key finding, else of its best-supported comparison (low: nothing survives
    the correction; a column and its own transform do not count); None when the analysis
    states no test."""
    lead = key_findings(result, 1, method)
    if lead and lead[0].support is not None:
        return lead[0].support
    tests = [t for t in result.data.get("tests", []) or [] if t.get("p_value") is not None]
    if not tests:
        return None
    # a column against its own transform counts for the correction but supports nothing
    excluded = _excluded(result)
    adjusted = [p for t, p in zip(tests, adjust([float(t["p_value"]) for t in tests], method),
                                  strict=True)
                if frozenset(str(c) for c in t.get("columns", [])) not in excluded]
    return support_of(min(adjusted)) if adjusted else 0.0


def rank_findings(results: Mapping[str, AnalysisResult] | Iterable[AnalysisResult],
                  limit: int | None = 5, method: Method = "holm") -> list[Finding]:
    """The key findings of several analyses together, best score first (a report's lead)."""
    items = results.values() if isinstance(results, Mapping) else results
    pooled = [f for r in items for f in key_findings(r, None, method)]
    pooled.sort(key=lambda f: -f.score)
    return pooled if limit is None else pooled[:limit]
