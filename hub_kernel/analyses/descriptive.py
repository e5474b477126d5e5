"""Descriptive analyses: summary statistics, distributions, correlations (missing values and
outliers are in ``quality``).

scipy is imported inside the functions that use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hub_kernel.analyses.base import (
    Analysis,
    AnalysisResult,
    Fact,
    FactStyle,
    format_number,
    on_column,
)
from hub_kernel.analyses.findings import comparison, holm, monotone_twins, twin_caveat
from hub_kernel.core.formatting import plain_integers

if TYPE_CHECKING:
    from hub_kernel.data.profile import DatasetProfile

#: most columns described one by one in facts (the table has them all)
MAX_FACT_COLUMNS = 20
#: |skewness| from which a distribution is called skewed
SKEWED = 1.0
#: |r| from which a correlation is called strong, and moderate
STRONG_R, MODERATE_R = 0.7, 0.4


def numeric_values(column: pd.Series) -> pd.Series:
    """A column as float64 without missing or infinite values."""
    values = pd.to_numeric(column, errors="coerce").astype("float64")
    return values[np.isfinite(values.to_numpy(dtype="float64", na_value=np.nan))]


def numeric_names(profile: DatasetProfile, exclude: tuple[str | None, ...] = ()) -> list[str]:
    return [c.name for c in profile.of_kind("numeric") if c.name not in exclude]


def column_style(name: str, values: pd.Series) -> FactStyle:
    """How a column's numbers are written: ``plain`` for years and ids (whole numbers that
    are labels: 2003, not 2,003), else ``number``."""
    if values.empty:
        return "number"
    array = values.to_numpy(dtype="float64")
    low, high = float(array.min()), float(array.max())
    if not plain_integers(name, low, high):  # not a year or id even if whole: no need to look
        return "number"
    integer = bool(np.all(np.mod(array, 1) == 0))
    return "plain" if plain_integers(name, low, high, integer=integer) else "number"


def pct(part: float, whole: float) -> float:
    """``part`` as a percentage of ``whole`` (0 when ``whole`` is 0)."""
    return float(100.0 * part / whole) if whole else 0.0


def _top(column: pd.Series) -> dict[str, Any]:
    """The most common value of ``column`` and its count (empty: no values)."""
    counts = column.dropna().astype(str).value_counts()
    return {"top": counts.index[0], "top_count": counts.iloc[0]} if len(counts) else {}


# -- summary -------------------------------------------------------------------------------
#: the statistics a summary states per numeric column: (fact prefix, stats key, words)
_STATS = (("mean", "mean", "The mean of {} is"), ("median", "median", "The median of {} is"),
          ("min", "min", "The smallest {} is"), ("max", "max", "The largest {} is"))


def _stat_fact(key: str, words: str, column: str, value: float, style: FactStyle) -> Fact:
    shown = format_number(value, plain=style == "plain")
    return Fact(key, f"{words.format(column)} {shown}.", value, style=style)


class Summary(Analysis):
    """Rows, columns, kinds, and per column its centre, spread and most common value."""

    name = "summary"
    title = "Summary statistics"

    def _run(self, frame: pd.DataFrame, profile: DatasetProfile, *,
             target: str | None = None) -> AnalysisResult:
        rows: list[dict[str, Any]] = []
        facts = [
            Fact("rows", f"The table has {format_number(profile.n_rows)} rows.", profile.n_rows),
            Fact("columns", f"It has {format_number(profile.n_columns)} columns.",
                 profile.n_columns),
        ]
        kinds = pd.Series([c.kind for c in profile.columns]).value_counts()
        for kind, count in kinds.items():
            noun = "column is" if count == 1 else "columns are"
            facts.append(Fact(f"kind.{kind}", f"{format_number(int(count))} {noun} {kind}.",
                              int(count)))
        described = 0
        for col in profile.columns:
            row: dict[str, Any] = {"column": col.name, "kind": col.kind, "dtype": col.dtype,
                                   "missing": col.n_missing,
                                   "missing_%": 100.0 * col.missing_share,
                                   "unique": col.n_unique}
            with on_column(col.name):
                if col.kind == "numeric":
                    values = numeric_values(frame[col.name])
                    if len(values):
                        q1, median, q3 = np.quantile(values.to_numpy(), [0.25, 0.5, 0.75])
                        stats = {"mean": float(values.mean()),
                                 "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                                 "min": float(values.min()), "25%": float(q1),
                                 "median": float(median), "75%": float(q3),
                                 "max": float(values.max())}
                        row.update(stats)
                        style = column_style(col.name, values)
                        row["plain"] = style == "plain"
                        if described < MAX_FACT_COLUMNS:
                            described += 1
                            facts += [_stat_fact(f"{stat}.{col.name}", words, col.name,
                                                 stats[name], style)
                                      for stat, name, words in _STATS]
                elif col.kind == "datetime":
                    stamps = pd.to_datetime(frame[col.name], errors="coerce").dropna()
                    if len(stamps):
                        first, last = stamps.min(), stamps.max()
                        days = float((last - first) / pd.Timedelta(days=1))
                        row.update({"min": first.isoformat(), "max": last.isoformat()})
                        if described < MAX_FACT_COLUMNS:
                            described += 1
                            facts += [
                                Fact(f"first.{col.name}", f"The earliest {col.name} is "
                                     f"{first.date().isoformat()}.", first.date().isoformat()),
                                Fact(f"last.{col.name}", f"The latest {col.name} is "
                                     f"{last.date().isoformat()}.", last.date().isoformat()),
                                Fact(f"span.{col.name}", f"{col.name} covers "
                                     f"{format_number(days)} days.", days, "days"),
                            ]
                else:
                    present = col.stats if "top" in col.stats else _top(frame[col.name])
                    if present:
                        top, count = str(present["top"]), int(present["top_count"])
                        share = pct(count, frame[col.name].notna().sum())
                        row.update({"top": top, "top_count": count})
                        if described < MAX_FACT_COLUMNS and col.kind != "text":
                            described += 1
                            facts.append(Fact(
                                f"top.{col.name}", f"The most common {col.name} is {top}, in "
                                f"{format_number(share)}% of the rows that have one.", share, "%"))
            rows.append(row)
        table = pd.DataFrame(rows)
        caveats = []
        if described >= MAX_FACT_COLUMNS:
            caveats.append("only the first columns are described in words; the table has all")
        return self.result(facts=facts, table=table, caveats=caveats,
                           data={"kinds": {str(k): int(v) for k, v in kinds.items()}})


# -- distributions ---------------------------------------------------------------------------
class Distributions(Analysis):
    """Histograms of numeric columns (with their skewness) and frequencies of categories."""

    name = "distributions"
    title = "Distributions"
    requirement = "a numeric, categorical or boolean column"

    def applies(self, profile: DatasetProfile, target: str | None = None) -> bool:
        return profile.n_rows > 0 and bool(profile.of_kind("numeric", "categorical", "boolean"))

    def _run(self, frame: pd.DataFrame, profile: DatasetProfile, *, target: str | None = None,
             max_bins: int = 30, max_categories: int = 10) -> AnalysisResult:
        facts: list[Fact] = []
        rows: list[dict[str, Any]] = []
        histograms: dict[str, dict[str, list[float]]] = {}
        frequencies: dict[str, dict[str, list[Any]]] = {}
        most_skewed: tuple[float, str] | None = None
        for col in profile.of_kind("numeric"):
            with on_column(col.name):
                values = numeric_values(frame[col.name])
                if len(values) < 2 or values.min() == values.max():
                    continue
                edges = np.histogram_bin_edges(values, bins="auto")
                if len(edges) - 1 > max_bins:
                    edges = np.histogram_bin_edges(values, bins=max_bins)
                counts, edges = np.histogram(values, bins=edges)
                skew = float(values.skew()) if len(values) > 2 else 0.0
                kurtosis = float(values.kurt()) if len(values) > 3 else 0.0
                histograms[col.name] = {"edges": edges.tolist(), "counts": counts.tolist()}
                rows.append({"column": col.name, "kind": "numeric", "skew": skew,
                             "kurtosis": kurtosis, "bins": len(counts)})
                if most_skewed is None or abs(skew) > most_skewed[0]:
                    most_skewed = (abs(skew), col.name)
                if len(facts) < MAX_FACT_COLUMNS:
                    shape = ("right-skewed" if skew >= SKEWED else
                             "left-skewed" if skew <= -SKEWED else "roughly symmetric")
                    facts.append(Fact(f"skew.{col.name}", f"{col.name} is {shape} (skewness "
                                      f"{format_number(skew)}).", skew))
        for col in profile.of_kind("categorical", "boolean"):
            with on_column(col.name):
                counts = frame[col.name].dropna().astype(str).value_counts()
                if counts.empty:
                    continue
                shown = counts.iloc[:max_categories]
                labels, values_ = [str(i) for i in shown.index], shown.tolist()
                if len(counts) > max_categories:
                    labels.append("(other)")
                    values_.append(int(counts.iloc[max_categories:].sum()))
                frequencies[col.name] = {"labels": labels, "counts": values_}
                share = pct(counts.iloc[0], counts.sum())
                rows.append({"column": col.name, "kind": col.kind, "categories": len(counts),
                             "top": str(counts.index[0]), "top_%": share})
                if len(facts) < 2 * MAX_FACT_COLUMNS:
                    facts.append(Fact(f"categories.{col.name}", f"{col.name} takes "
                                      f"{format_number(len(counts))} distinct values.",
                                      len(counts)))
                    facts.append(Fact(f"top_share.{col.name}", f"Its most common value, "
                                      f"{counts.index[0]}, covers {format_number(share)}% of "
                                      "the rows that have one.", share, "%"))
        chart: dict[str, Any] | None = None
        if most_skewed is not None:
            column = most_skewed[1]
            edges = np.asarray(histograms[column]["edges"])
            chart = {"type": "histogram", "x": ((edges[:-1] + edges[1:]) / 2).tolist(),
                     "y": histograms[column]["counts"], "edges": edges.tolist(),
                     "column": column, "x_label": column, "y_label": "rows"}
        elif frequencies:
            column = next(iter(frequencies))
            chart = {"type": "bar", "x": frequencies[column]["labels"],
                     "y": frequencies[column]["counts"], "column": column, "x_label": column,
                     "y_label": "rows"}
        return self.result(facts=facts, table=pd.DataFrame(rows), chart=chart,
                           data={"histograms": histograms, "frequencies": frequencies})


# -- correlations ---------------------------------------------------------------------------
class Correlations(Analysis):
    """Pearson and Spearman correlations between numeric columns, strongest pairs first."""

    name = "correlations"
    title = "Correlations"
    requirement = "at least two numeric columns with three or more rows"
    max_columns = 30

    def applies(self, profile: DatasetProfile, target: str | None = None) -> bool:
        varying = [c for c in profile.of_kind("numeric") if c.n_unique > 1]
        return profile.n_rows >= 3 and len(varying) >= 2

    def _run(self, frame: pd.DataFrame, profile: DatasetProfile, *, target: str | None = None,
             method: str = "pearson", top: int = 5) -> AnalysisResult:
        from scipy import stats

        if method not in ("pearson", "spearman"):
            raise ValueError(f"method must be 'pearson' or 'spearman', not {method!r}")
        names = [c.name for c in profile.of_kind("numeric") if c.n_unique > 1]
        caveats = []
        if len(names) > self.max_columns:
            caveats.append(f"only the first {self.max_columns} numeric columns are correlated")
            names = names[: self.max_columns]
        values = pd.DataFrame({n: pd.to_numeric(frame[n], errors="coerce").astype("float64")
                               for n in names})
        values = values.replace([np.inf, -np.inf], np.nan)
        pearson = values.corr(method="pearson")
        spearman = values.corr(method="spearman")
        present = values.notna().to_numpy(dtype="float64")
        pairs_n = present.T @ present
        pairs: list[dict[str, Any]] = []
        for i, a in enumerate(names):
            for j in range(i + 1, len(names)):
                b = names[j]
                r, rho, n = pearson.iloc[i, j], spearman.iloc[i, j], int(pairs_n[i, j])
                if not np.isfinite(r) or n < 3:
                    continue
                chosen = r if method == "pearson" else rho
                if abs(chosen) >= 1.0:
                    p = 0.0
                else:
                    t = chosen * np.sqrt((n - 2) / max(1e-300, 1 - chosen ** 2))
                    p = float(2 * stats.t.sf(abs(t), n - 2))
                pairs.append({"a": a, "b": b, "pearson": float(r),
                              "spearman": float(rho) if np.isfinite(rho) else None,
                              "p_value": p, "n": n})
        key = "pearson" if method == "pearson" else "spearman"
        pairs.sort(key=lambda d: -abs(d[key] or 0.0))
        twins = {frozenset(t) for t in monotone_twins(frame, spearman=spearman)}
        for pair in pairs:
            pair["transform"] = frozenset((pair["a"], pair["b"])) in twins
        # the p-values are corrected for every pair tested: with many columns, chance alone
        # makes some pair look "significant"
        adjusted = holm([p["p_value"] for p in pairs])
        for pair, adj in zip(pairs, adjusted, strict=True):
            pair["p_adjusted"] = adj
        table = pd.DataFrame(pairs, columns=["a", "b", "pearson", "spearman", "p_value",
                                             "p_adjusted", "n", "transform"])
        facts: list[Fact] = []
        tests: list[dict[str, Any]] = []
        symbol = "r" if method == "pearson" else "rho"
        related = [p for p in pairs if not p["transform"]]
        best = related[0] if related else None
        for pair in pairs:
            label = f"{pair['a']}|{pair['b']}"
            tests.append(comparison(p_value=pair["p_value"], effect=abs(pair[key] or 0.0),
                                    measure=f"|{symbol}|", columns=(pair["a"], pair["b"]),
                                    facts=[f"corr.{label}"] if pair in related[:top] else []))
        if best is not None:
            r = best[key]
            facts.append(Fact("corr.strongest", f"The strongest correlation is between "
                              f"{best['a']} and {best['b']}: {symbol} = {format_number(r)}.", r))
            facts.append(Fact("corr.strongest.p_value", "Its p-value, corrected for the pairs "
                              f"tested, is {format_number(best['p_adjusted'], p_value=True)}.",
                              best["p_adjusted"], style="p_value"))
            for test in tests:
                if test["columns"] == [best["a"], best["b"]]:
                    test["facts"] = ["corr.strongest", "corr.strongest.p_value"]
            for pair in related[:top]:
                r = pair[key]
                strength = ("strongly" if abs(r) >= STRONG_R else
                            "moderately" if abs(r) >= MODERATE_R else "weakly")
                sign = "positively" if r > 0 else "negatively"
                facts.append(Fact(f"corr.{pair['a']}|{pair['b']}",
                                  f"{pair['a']} and {pair['b']} are {strength} {sign} "
                                  f"correlated ({symbol} = {format_number(r)}).", r))
            n_strong = sum(abs(p[key]) >= STRONG_R for p in related)
            facts.append(Fact("corr.n_strong", f"{format_number(n_strong)} "
                              f"{'pair is' if n_strong == 1 else 'pairs are'} strongly "
                              "correlated.", n_strong))
        if pairs:
            facts.append(Fact("corr.n_pairs", f"{format_number(len(pairs))} "
                              f"{'pair was' if len(pairs) == 1 else 'pairs were'} tested.",
                              len(pairs)))
        excluded = [{"columns": [p["a"], p["b"]], "why": twin_caveat(p["a"], p["b"])}
                    for p in pairs if p["transform"]]
        caveats += [str(e["why"]) for e in excluded[:5]]
        if len(excluded) > 5:
            caveats.append("more pairs of columns are transforms of one another: see the "
                           "table's transform column")
        matrix = pearson if method == "pearson" else spearman
        chart = {"type": "heatmap", "x": names, "y": names,
                 "z": [[None if not np.isfinite(v) else float(v) for v in row]
                       for row in matrix.to_numpy()], "method": method}
        return self.result(facts=facts, table=table, chart=chart, caveats=caveats,
                           data={"pearson": pearson.to_dict(), "spearman": spearman.to_dict(),
                                 "strong_threshold": STRONG_R, "tests": tests,
                                 "excluded": excluded,
                                 "strongest": [best["a"], best["b"]] if best else None})


ANALYSES: tuple[type[Analysis], ...] = (Summary, Distributions, Correlations)
