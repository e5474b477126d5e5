"""Groups in the data: segment comparison (categorical x numeric) and clustering.

Segment comparison tests whether a numeric column differs between the segments of a
categorical one (one-way ANOVA and Kruskal-Wallis, ``scipy.stats``), with eta squared as the
effect size; without ``by``/``value`` it tries the pairs and reports the one with the largest
significant effect. Clustering standardizes the numeric columns and runs k-means for each k in
``2..max_k``, keeping the k with the best silhouette score; clusters are named A, B, C...

scipy and scikit-learn are imported inside the functions that use them.
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hub_kernel.analyses.base import Analysis, AnalysisResult, Fact, format_number, on_column
from hub_kernel.analyses.descriptive import column_style, numeric_names, numeric_values
from hub_kernel.analyses.findings import comparison, holm

if TYPE_CHECKING:
    from hub_kernel.data.profile import ColumnProfile, DatasetProfile

ALPHA = 0.05
MAX_SEGMENTS = 50
MAX_PAIRS_SIDE = 10
#: silhouette below which the clusters are called weak
WEAK_SILHOUETTE = 0.25


def _segment_columns(profile: DatasetProfile) -> list[ColumnProfile]:
    return [c for c in profile.of_kind("categorical", "boolean")
            if 2 <= c.n_unique <= MAX_SEGMENTS]


def compare_segments(labels: pd.Series, values: pd.Series) -> dict[str, Any] | None:
    """ANOVA, Kruskal-Wallis and eta squared of ``values`` across ``labels`` (None: untestable)."""
    from scipy import stats

    frame = pd.DataFrame({"g": labels.astype("string"),
                          "v": pd.to_numeric(values, errors="coerce")}).dropna()
    frame = frame[np.isfinite(frame["v"].astype("float64"))]
    groups = {str(k): g["v"].to_numpy(dtype="float64") for k, g in frame.groupby("g")}
    groups = {k: v for k, v in groups.items() if len(v) >= 2}
    if len(groups) < 2:
        return None
    everything = np.concatenate(list(groups.values()))
    total = float(np.sum((everything - everything.mean()) ** 2))
    if total <= 0:
        return None
    between = float(sum(len(v) * (v.mean() - everything.mean()) ** 2 for v in groups.values()))
    with np.errstate(all="ignore"):
        anova = stats.f_oneway(*groups.values())
        try:
            kruskal = stats.kruskal(*groups.values())
            kruskal_p = float(kruskal.pvalue)
        except ValueError:  # all values identical
            kruskal_p = 1.0
    anova_p = float(anova.pvalue) if np.isfinite(anova.pvalue) else 1.0
    return {"groups": groups, "eta_squared": between / total, "anova_p": anova_p,
            "kruskal_p": kruskal_p if np.isfinite(kruskal_p) else 1.0}


class Segments(Analysis):
    """Compare a numeric column across the segments of a categorical column."""

    name = "segments"
    title = "Segment comparison"
    requirement = "a categorical column with 2 to 50 values and a numeric column"

    def applies(self, profile: DatasetProfile, target: str | None = None) -> bool:
        segments = _segment_columns(profile)
        numeric = [c for c in profile.of_kind("numeric") if c.n_unique > 1]
        return profile.n_rows >= 4 and bool(segments) and bool(numeric)

    def _run(self, frame: pd.DataFrame, profile: DatasetProfile, *, target: str | None = None,
             by: str | None = None, value: str | None = None) -> AnalysisResult:
        segment_names = [c.name for c in _segment_columns(profile)]
        numeric = [c.name for c in profile.of_kind("numeric") if c.n_unique > 1]
        if target is not None and by is None and target in segment_names:
            by = target
        elif target is not None and value is None and target in numeric:
            value = target
        for name, kind in ((by, "by"), (value, "value")):
            if name is not None and name not in frame.columns:
                raise ValueError(f"no column {name!r} for {kind}")
        bys = [by] if by is not None else segment_names[:MAX_PAIRS_SIDE]
        values = [value] if value is not None else numeric[:MAX_PAIRS_SIDE]
        tested: list[dict[str, Any]] = []
        best: tuple[tuple[bool, float], str, str, dict[str, Any]] | None = None
        for b in bys:
            for v in values:
                if v == b:
                    continue
                with on_column(v):
                    found = compare_segments(frame[b], frame[v])
                if found is None:
                    continue
                tested.append({"by": b, "value": v, "eta_squared": found["eta_squared"],
                               "kruskal_p": found["kruskal_p"], "anova_p": found["anova_p"]})
                rank = (found["kruskal_p"] < ALPHA, found["eta_squared"])
                if best is None or rank > best[0]:
                    best = (rank, b, v, found)
        if best is None:
            raise ValueError("no segment column splits a numeric column into two or more "
                             "segments of at least 2 rows")
        # the chosen pair is the best of those tested: its p-value is corrected for them all
        adjusted = holm([t["kruskal_p"] for t in tested])
        for t, adj in zip(tested, adjusted, strict=True):
            t["p_adjusted"] = adj
        _, b, v, found = best
        groups: dict[str, np.ndarray] = found["groups"]
        rows = [{"segment": k, "count": len(g), "mean": float(g.mean()),
                 "median": float(np.median(g)), "std": float(g.std(ddof=1))}
                for k, g in groups.items()]
        table = pd.DataFrame(rows).sort_values("mean", ascending=False, kind="stable")
        top, bottom = table.iloc[0], table.iloc[-1]
        difference = float(top["mean"] - bottom["mean"])
        chosen = next(t for t in tested if t["by"] == b and t["value"] == v)
        p, eta = chosen["p_adjusted"], found["eta_squared"]
        significant = p < ALPHA
        style = column_style(v, numeric_values(frame[v]))  # a mean year: 2006, not 2,006
        plain = style == "plain"
        facts = [
            Fact("segments.by", f"{v} is compared across the segments of {b}.", b),
            Fact("segments.value", f"The compared value is {v}.", v),
            Fact("segments.top_segment", f"{top['segment']} has the largest mean {v}.",
                 str(top["segment"])),
            Fact("segments.top_mean", f"Its mean {v} is "
                 f"{format_number(float(top['mean']), plain=plain)}.", float(top["mean"]),
                 style=style),
            Fact("segments.bottom_segment", f"{bottom['segment']} has the smallest mean {v}.",
                 str(bottom["segment"])),
            Fact("segments.bottom_mean", f"Its mean {v} is "
                 f"{format_number(float(bottom['mean']), plain=plain)}.",
                 float(bottom["mean"]), style=style),
            Fact("segments.difference", f"The largest difference between segment means is "
                 f"{format_number(difference)}.", difference),
            Fact("segments.p_value", f"The difference is {'' if significant else 'not '}"
                 f"statistically significant (Kruskal-Wallis p-value "
                 f"{format_number(p, p_value=True)}"
                 f"{', corrected for the pairs tested' if len(tested) > 1 else ''}).", p,
                 style="p_value"),
            Fact("segments.effect_size", f"{b} accounts for {format_number(100 * eta)}% of the "
                 f"variance of {v} (eta squared).", 100 * eta, "%"),
            Fact("segments.comparisons", f"{format_number(len(tested))} "
                 f"{'pair of columns was' if len(tested) == 1 else 'pairs of columns were'} "
                 "compared.", len(tested)),
        ]
        caveats = []
        if len(tested) > 1:
            caveats.append("the pair shown is the strongest of those tested; its p-value is "
                           "corrected for all of them (Holm); other pairs are in "
                           "data['tested']")
        tests = [comparison(p_value=t["kruskal_p"], effect=float(np.sqrt(t["eta_squared"])),
                            measure="eta (square root of eta squared)",
                            columns=(t["by"], t["value"]),
                            facts=["segments.effect_size", "segments.p_value"]
                            if t is chosen else []) for t in tested]
        chart = {"type": "bar", "x": table["segment"].tolist(), "y": table["mean"].tolist(),
                 "x_label": b, "y_label": f"mean {v}"}
        tested.sort(key=lambda d: (-(d["kruskal_p"] < ALPHA), -d["eta_squared"]))
        return self.result(facts=facts, table=table.reset_index(drop=True), chart=chart,
                           caveats=caveats,
                           data={"by": b, "value": v, "anova_p_value": found["anova_p"],
                                 "tested": tested[:50], "tests": tests})


def cluster_names(k: int) -> list[str]:
    """A, B, ..., Z, AA, AB...: cluster labels that are not numbers."""
    letters = string.ascii_uppercase
    return [letters[i] if i < 26 else letters[i // 26 - 1] + letters[i % 26] for i in range(k)]


class Clustering(Analysis):
    """k-means on the standardized numeric columns, k chosen by silhouette score."""

    name = "clustering"
    title = "Clusters"
    requirement = "two or more numeric columns (besides the target) and at least 20 rows"

    def applies(self, profile: DatasetProfile, target: str | None = None) -> bool:
        numeric = [c for c in profile.of_kind("numeric") if c.n_unique > 1 and c.name != target]
        return profile.n_rows >= 20 and len(numeric) >= 2

    def _run(self, frame: pd.DataFrame, profile: DatasetProfile, *, target: str | None = None,
             columns: list[str] | None = None, k: int | None = None, max_k: int = 8,
             max_rows: int = 5000, random_state: int = 0) -> AnalysisResult:
        from sklearn.cluster import KMeans
        from sklearn.decomposition import PCA
        from sklearn.metrics import silhouette_score

        names = columns if columns is not None else [
            n for n in numeric_names(profile, exclude=(target,))
            if frame[n].nunique(dropna=True) > 1]
        if len(names) < 2:
            raise ValueError("clustering needs at least two varying numeric columns")
        raw = pd.DataFrame({n: pd.to_numeric(frame[n], errors="coerce") for n in names},
                           index=frame.index).astype("float64")
        raw = raw.replace([np.inf, -np.inf], np.nan)
        raw = raw.loc[raw.notna().any(axis=1)]
        caveats: list[str] = []
        if len(raw) > max_rows:
            raw = raw.sample(max_rows, random_state=random_state).sort_index()
            caveats.append(f"clusters were found on a random sample of {max_rows} rows")
        filled = raw.fillna(raw.median())
        std = filled.std(ddof=0).replace(0, 1.0)
        scaled = ((filled - filled.mean()) / std).to_numpy()
        n = len(scaled)
        candidates = [k] if k is not None else list(range(2, min(max_k, n - 1) + 1))
        if not candidates or candidates[0] < 2:
            raise ValueError(f"cannot cluster {n} rows into {candidates} groups")
        scores: dict[int, float] = {}
        labels_by: dict[int, np.ndarray] = {}
        sample = min(n, 2000)
        for kk in candidates:
            model = KMeans(n_clusters=kk, n_init=4, random_state=random_state)
            labels = model.fit_predict(scaled)
            if len(set(labels)) < 2:
                continue
            scores[kk] = float(silhouette_score(scaled, labels, sample_size=sample,
                                                random_state=random_state))
            labels_by[kk] = labels
        if not scores:
            raise ValueError("k-means found a single group")
        best_k = max(scores, key=lambda kk: scores[kk])
        labels = labels_by[best_k]
        # clusters named by size, largest first
        order = [c for c, _ in sorted(pd.Series(labels).value_counts().items(),
                                      key=lambda kv: (-kv[1], kv[0]))]
        names_of = dict(zip(order, cluster_names(best_k), strict=True))
        named = np.array([names_of[c] for c in labels])
        silhouette = scores[best_k]
        quality = ("well separated" if silhouette >= 0.5 else
                   "moderately separated" if silhouette >= WEAK_SILHOUETTE else "weakly separated")
        facts = [
            Fact("clusters.k", f"The rows fall into {format_number(best_k)} clusters.", best_k),
            Fact("clusters.silhouette", f"The clusters are {quality} (silhouette "
                 f"{format_number(silhouette)}).", silhouette),
        ]
        rows = []
        scaled_frame = pd.DataFrame(scaled, columns=names)
        styles = {n_: column_style(n_, raw[n_].dropna()) for n_ in names}
        for label in cluster_names(best_k):
            members = named == label
            share = 100.0 * members.mean()
            means = filled.loc[members].mean()
            rows.append({"cluster": label, "rows": int(members.sum()), "share_%": share,
                         **{n_: float(means[n_]) for n_ in names}})
            z = scaled_frame.loc[members].mean()
            feature = str(z.abs().idxmax())
            high = z[feature] > 0
            facts += [
                Fact(f"clusters.{label}.share", f"Cluster {label} holds "
                     f"{format_number(share)}% of the rows.", share, "%"),
                Fact(f"clusters.{label}.feature", f"Cluster {label} stands out by its "
                     f"{'high' if high else 'low'} {feature} (mean "
                     f"{format_number(float(means[feature]), plain=styles[feature] == 'plain')}"
                     ").", float(means[feature]), style=styles[feature]),
            ]
        tests = [comparison(p_value=None, effect=silhouette, measure="silhouette",
                            columns=names, facts=["clusters.k", "clusters.silhouette"])]
        if silhouette < WEAK_SILHOUETTE:
            caveats.append("the silhouette score is low: the data may have no real clusters")
        projected = PCA(n_components=2, random_state=random_state).fit_transform(scaled)
        shown = np.random.default_rng(random_state).permutation(n)[:1000]
        chart = {"type": "scatter", "x": projected[shown, 0].tolist(),
                 "y": projected[shown, 1].tolist(), "color": named[shown].tolist(),
                 "x_label": "first principal component",
                 "y_label": "second principal component"}
        return self.result(facts=facts, table=pd.DataFrame(rows), chart=chart, caveats=caveats,
                           data={"columns": names, "silhouette_by_k": scores, "tests": tests,
                                 "labels": pd.Series(named, index=raw.index).to_dict()})


ANALYSES: tuple[type[Analysis], ...] = (Segments, Clustering)
