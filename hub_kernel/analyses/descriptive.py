"""Descriptive analyses: summary statistics, distributions, correlations, missingness, outliers.

scipy is imported inside the functions that use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hub_kernel.analyses.base import Analysis, AnalysisResult, Fact, format_number, on_column
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
#: Tukey's fences: values beyond this many IQRs outside the quartiles are outliers
IQR_FACTOR = 1.5
#: robust z-score (0.6745 (x - median) / MAD) beyond which a value is an outlier (Iglewicz-Hoaglin)
ROBUST_Z = 3.5


def numeric_values(column: pd.Series) -> pd.Series:
    """A column as float64 without missing or infinite values."""
    values = pd.to_numeric(column, errors="coerce").astype("float64")
    return values[np.isfinite(values.to_numpy(dtype="float64", na_value=np.nan))]


def numeric_names(profile: DatasetProfile, exclude: tuple[str | None, ...] = ()) -> list[str]:
    return [c.name for c in profile.of_kind("numeric") if c.name not in exclude]


def _pct(part: float, whole: float) -> float:
    return float(100.0 * part / whole) if whole else 0.0


# -- summary -------------------------------------------------------------------------------
#: the statistics a summary states per numeric column: (fact prefix, stats key, words)
_STATS = (("mean", "mean", "The mean of {} is"), ("median", "median", "The median of {} is"),
          ("min", "min", "The smallest {} is"), ("max", "max", "The largest {} is"))


def _stat_fact(key: str, words: str, column: str, value: float, style: str) -> Fact:
    shown = format_number(value, plain=style == "plain")
    return Fact(key, f"{words.format(column)} {shown}.", value, style=style)  # type: ignore[arg-type]


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
                        stats = {"mean": float(values.mean()),
                                 "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                                 "min": float(values.min()),
                                 "25%": float(values.quantile(0.25)),
                                 "median": float(values.median()),
                                 "75%": float(values.quantile(0.75)),
                                 "max": float(values.max())}
                        row.update(stats)
                        # years and ids are labels: 2003, not 2,003
                        style = "plain" if plain_integers(
                            col.name, stats["min"], stats["max"],
                            integer=bool(np.all(np.mod(values.to_numpy(), 1) == 0))
                        ) else "number"
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
                    counts = frame[col.name].dropna().astype(str).value_counts()
                    if len(counts):
                        top, share = str(counts.index[0]), _pct(counts.iloc[0], counts.sum())
                        row.update({"top": top, "top_count": int(counts.iloc[0])})
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
                if len(values) < 2 or values.nunique() < 2:
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
                share = _pct(counts.iloc[0], counts.sum())
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
        caveats += [e["why"] for e in excluded[:5]]
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


# -- missingness ----------------------------------------------------------------------------
class Missingness(Analysis):
    """How much is missing, where, and which columns go missing together."""

    name = "missingness"
    title = "Missing values"
    requirement = "some missing values"

    def applies(self, profile: DatasetProfile, target: str | None = None) -> bool:
        return profile.n_rows > 0 and profile.n_missing > 0

    def _run(self, frame: pd.DataFrame, profile: DatasetProfile, *,
             target: str | None = None) -> AnalysisResult:
        missing = frame.isna()
        n_rows, n_cells = len(frame), frame.size
        per_column = missing.sum()
        with_gaps = per_column[per_column > 0].sort_values(ascending=False, kind="stable")
        cell_share = _pct(float(per_column.sum()), n_cells)
        complete_share = _pct(float((~missing.any(axis=1)).sum()), n_rows)
        facts = [
            Fact("missing.cells", f"{format_number(cell_share)}% of all values are missing.",
                 cell_share, "%"),
            Fact("missing.complete_rows", f"{format_number(complete_share)}% of rows have no "
                 "missing value.", complete_share, "%"),
            Fact("missing.columns", f"{format_number(len(with_gaps))} columns have missing "
                 "values.", len(with_gaps)),
        ]
        rows = []
        for name, count in with_gaps.items():
            share = _pct(float(count), n_rows)
            rows.append({"column": str(name), "missing": int(count), "missing_%": share})
            if len(rows) <= MAX_FACT_COLUMNS:
                facts.append(Fact(f"missing.{name}", f"{name} is missing in "
                                  f"{format_number(share)}% of rows.", share, "%"))
        together: list[dict[str, Any]] = []
        gap_names = list(with_gaps.index)[:30]
        for i, a in enumerate(gap_names):
            for b in gap_names[i + 1:]:
                both = int((missing[a] & missing[b]).sum())
                either = int((missing[a] | missing[b]).sum())
                if both:
                    together.append({"a": str(a), "b": str(b), "both": both,
                                     "jaccard": both / either})
        together.sort(key=lambda d: -d["jaccard"])
        if together and together[0]["jaccard"] >= 0.5:
            top = together[0]
            share = 100.0 * top["jaccard"]
            facts.append(Fact("missing.together", f"{top['a']} and {top['b']} tend to be "
                              f"missing together: both are missing in {format_number(share)}% "
                              "of the rows where either is.", share, "%"))
        table = pd.DataFrame(rows, columns=["column", "missing", "missing_%"])
        chart = {"type": "bar", "x": table["column"].tolist(), "y": table["missing_%"].tolist(),
                 "x_label": "column", "y_label": "% of rows missing"}
        return self.result(facts=facts, table=table, chart=chart,
                           data={"together": together[:20]})


# -- outliers ---------------------------------------------------------------------------------
class Outliers(Analysis):
    """Values outside Tukey's IQR fences, and values with an extreme robust z-score."""

    name = "outliers"
    title = "Outliers"
    requirement = "a numeric column with at least 8 values"
    min_values = 8

    def applies(self, profile: DatasetProfile, target: str | None = None) -> bool:
        return any(c.n_unique > 1 and profile.n_rows - c.n_missing >= self.min_values
                   for c in profile.of_kind("numeric"))

    def _run(self, frame: pd.DataFrame, profile: DatasetProfile, *, target: str | None = None,
             examples: int = 10) -> AnalysisResult:
        rows: list[dict[str, Any]] = []
        data: dict[str, Any] = {"examples": {}, "iqr_factor": IQR_FACTOR, "robust_z": ROBUST_Z}
        for col in profile.of_kind("numeric"):
            with on_column(col.name):
                values = numeric_values(frame[col.name])
                if len(values) < self.min_values or values.nunique() < 2:
                    continue
                q1, q3 = float(values.quantile(0.25)), float(values.quantile(0.75))
                iqr = q3 - q1
                low, high = q1 - IQR_FACTOR * iqr, q3 + IQR_FACTOR * iqr
                outside = (values < low) | (values > high)
                median = float(values.median())
                mad = float((values - median).abs().median())
                if mad > 0:
                    z = 0.6745 * (values - median) / mad
                else:  # over half the values equal: fall back on the mean absolute deviation
                    mean_ad = float((values - median).abs().mean())
                    z = (values - median) / (1.253314 * mean_ad) if mean_ad > 0 else values * 0.0
                extreme = z.abs() > ROBUST_Z
                rows.append({"column": col.name, "outliers_iqr": int(outside.sum()),
                             "outliers_iqr_%": _pct(float(outside.sum()), len(values)),
                             "lower_fence": low, "upper_fence": high,
                             "outliers_robust_z": int(extreme.sum()),
                             "max_abs_robust_z": float(z.abs().max())})
                worst = z.abs().sort_values(ascending=False).index[:examples]
                data["examples"][col.name] = [{"row": _label(i), "value": float(values[i])}
                                              for i in worst if outside[i] or extreme[i]]
        table = pd.DataFrame(rows, columns=["column", "outliers_iqr", "outliers_iqr_%",
                                            "lower_fence", "upper_fence", "outliers_robust_z",
                                            "max_abs_robust_z"])
        table = table.sort_values("outliers_iqr_%", ascending=False, kind="stable")
        total = int(table["outliers_iqr"].sum())
        facts = [Fact("outliers.total", f"{format_number(total)} values lie outside their "
                      "column's IQR fences.", total)]
        flagged = table[(table["outliers_iqr"] > 0) | (table["outliers_robust_z"] > 0)]
        for row in flagged.head(MAX_FACT_COLUMNS).itertuples(index=False):
            name = row.column
            facts += [
                Fact(f"outliers.{name}", f"{name} has {format_number(int(row.outliers_iqr))} "
                     "values outside its IQR fences.", int(row.outliers_iqr)),
                Fact(f"outliers.{name}.share", f"That is {format_number(row[2])}% of its "
                     "values.", float(row[2]), "%"),
                Fact(f"outliers.{name}.robust_z", f"{format_number(int(row.outliers_robust_z))}"
                     f" values of {name} are extreme by the robust z-score rule.",
                     int(row.outliers_robust_z)),
            ]
        chart = {"type": "bar", "x": table["column"].tolist(),
                 "y": table["outliers_iqr"].tolist(), "x_label": "column",
                 "y_label": "values outside the IQR fences"}
        caveats = ["an outlier is unusual, not necessarily wrong: check it before removing it"]
        return self.result(facts=facts, table=table.reset_index(drop=True), chart=chart,
                           data=data, caveats=caveats)


def _label(index: Any) -> Any:
    return index.item() if isinstance(index, np.generic) else index


ANALYSES: tuple[type[Analysis], ...] = (Summary, Distributions, Correlations, Missingness,
                                        Outliers)
