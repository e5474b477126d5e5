"""Data-quality analyses: missing values (how much, where, which go missing together) and
outliers (Tukey's IQR fences and robust z-scores).

Their counts and shares describe the data; they are never key findings
(``hub_kernel.analyses.findings``): they record no comparisons.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hub_kernel.analyses.base import Analysis, AnalysisResult, Fact, format_number, on_column
from hub_kernel.analyses.descriptive import MAX_FACT_COLUMNS, numeric_values, pct

if TYPE_CHECKING:
    from hub_kernel.data.profile import DatasetProfile

#: Tukey's fences: values beyond this many IQRs outside the quartiles are outliers
IQR_FACTOR = 1.5
#: robust z-score (0.6745 (x - median) / MAD) beyond which a value is an outlier (Iglewicz-Hoaglin)
ROBUST_Z = 3.5


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
        caveats = []
        if profile.out_of_core and n_rows < profile.n_rows:
            # the shares per column and of all cells are exact (counted out of core); rows
            # with no gap and columns missing together are the sample's
            n_rows, n_cells = profile.n_rows, profile.n_rows * profile.n_columns
            per_column = pd.Series({c.name: c.n_missing for c in profile.columns}, dtype="int64")
            caveats.append(f"Missing shares per column and of all values are exact over all "
                           f"{profile.n_rows:,} rows; complete rows and columns missing together "
                           f"are from the sample of {len(frame):,} rows.")
        with_gaps = per_column[per_column > 0].sort_values(ascending=False, kind="stable")
        cell_share = pct(float(per_column.sum()), n_cells)
        complete_share = pct(float((~missing.any(axis=1)).sum()), len(frame))
        facts = [
            Fact("missing.cells", f"{format_number(cell_share)}% of all values are missing.",
                 cell_share, "%"),
            Fact("missing.complete_rows", f"{format_number(complete_share)}% of rows have no "
                 "missing value.", complete_share, "%"),
            Fact("missing.columns", f"{format_number(len(with_gaps))} "
                 f"{'column has' if len(with_gaps) == 1 else 'columns have'} missing values.",
                 len(with_gaps)),
        ]
        rows = []
        for name, count in with_gaps.items():
            share = pct(float(count), n_rows)
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
                           data={"together": together[:20]}, caveats=caveats)


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
                             "outliers_iqr_%": pct(float(outside.sum()), len(values)),
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


ANALYSES: tuple[type[Analysis], ...] = (Missingness, Outliers)
