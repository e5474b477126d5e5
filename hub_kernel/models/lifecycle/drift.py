"""Data drift, prediction drift and performance decay between a reference and a current batch.

The rule for one feature (numeric or categorical): it *drifted* when its shift is both
**material** (PSI >= ``drift_psi_threshold``) and **statistically significant** (p-value <
``drift_ks_alpha``; two-sample Kolmogorov–Smirnov for numeric values, chi-square test of
homogeneity over category counts for categorical ones). PSI alone is biased upwards on small
batches (about ``(bins - 1) * (1/n_ref + 1/n_cur)`` under no drift) and a test alone flags
negligible shifts on large ones; requiring both keeps a resample of the reference quiet and flags
real shifts.

The batch: data drift when the share of drifted features is >= ``drift_share_threshold``;
performance decay when the metric dropped by more than ``decay_threshold`` (absolute). Retraining
is recommended on data drift, prediction drift, or decay; promotion stays behind the A/B gate
(``models.lifecycle.ab``). All thresholds default to the settings and can be passed instead.

scipy is imported inside the functions that use it, so importing this module stays light.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from hub_kernel.core.config import get_settings
from hub_kernel.exceptions import ModelError

logger = logging.getLogger("hub_kernel")

FeatureKind = Literal["numeric", "categorical"]

N_BINS = 10
EPSILON = 1e-4  # share given to an empty PSI bucket, so log(0) never happens
MAX_CATEGORIES = 20  # categories beyond the reference's most frequent ones go to "(other)"
MISSING = "(missing)"
UNSEEN = "(unseen)"
OTHER = "(other)"
PREDICTION = "(prediction)"


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one column (or of the predictions) between the reference and the current batch.

    ``test`` names the test behind ``p_value``: ``"ks"`` (numeric values), ``"chi2"``
    (category counts), with ``"+missing"`` when a chi-square test on the share of missing
    values was combined with it (Bonferroni, the smaller p-value times two).
    """

    feature: str
    kind: FeatureKind
    psi: float
    test: str
    statistic: float
    p_value: float
    drifted: bool
    reason: str
    detail: str
    n_reference: int
    n_current: int
    missing_reference: float
    missing_current: float
    ks_statistic: float | None = None
    ks_p_value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PerformanceDecay:
    """The metric on the reference (e.g. at training) against the metric on newly labelled data."""

    metric: str
    reference: float
    current: float
    drop: float  # positive = worse, whatever the metric's direction
    threshold: float
    higher_is_better: bool
    decayed: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DriftReport:
    """What changed between two batches, and whether a retrain is recommended."""

    features: tuple[FeatureDrift, ...]
    prediction: FeatureDrift | None
    performance: PerformanceDecay | None
    drift_share: float
    data_drifted: bool
    drifted: bool
    should_retrain: bool
    reasons: tuple[str, ...]
    explanation: str
    n_reference: int
    n_current: int
    thresholds: dict[str, float] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()

    @property
    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    def feature(self, name: str) -> FeatureDrift:
        for f in self.features:
            if f.feature == name:
                return f
        raise KeyError(name)

    def to_frame(self) -> pd.DataFrame:
        """One row per feature (and one for the predictions, if compared), worst PSI first."""
        rows = [{"role": "feature", **f.to_dict()} for f in self.features]
        if self.prediction is not None:
            rows.append({"role": "prediction", **self.prediction.to_dict()})
        frame = pd.DataFrame(rows)
        if frame.empty:
            return frame
        return frame.sort_values(["role", "psi"], ascending=[True, False], ignore_index=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": [f.to_dict() for f in self.features],
            "prediction": None if self.prediction is None else self.prediction.to_dict(),
            "performance": None if self.performance is None else self.performance.to_dict(),
            "drift_share": self.drift_share,
            "drifted_features": self.drifted_features,
            "data_drifted": self.data_drifted,
            "drifted": self.drifted,
            "should_retrain": self.should_retrain,
            "reasons": list(self.reasons),
            "explanation": self.explanation,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "thresholds": dict(self.thresholds),
            "skipped": list(self.skipped),
        }


# --- PSI -------------------------------------------------------------------------------------


def psi(reference_shares: np.ndarray, current_shares: np.ndarray,
        epsilon: float = EPSILON) -> float:
    """Population stability index of two share vectors over the same buckets."""
    ref = np.clip(np.asarray(reference_shares, float), epsilon, None)
    cur = np.clip(np.asarray(current_shares, float), epsilon, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def numeric_bins(reference: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Interior bin edges: the reference's quantiles, duplicates removed (constant -> one edge)."""
    values = reference[np.isfinite(reference)]
    if values.size == 0:
        return np.array([])
    quantiles = np.quantile(values, np.linspace(0, 1, n_bins + 1)[1:-1])
    return np.unique(quantiles)


def _numeric_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bucket (-inf, e1], (e1, e2], ..., (ek, inf), then one bucket for NaN."""
    present = values[~np.isnan(values)]
    index = np.searchsorted(edges, present, side="left")
    counts = np.bincount(index, minlength=edges.size + 1).astype(float)
    return np.append(counts, float(np.isnan(values).sum()))


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else counts


# --- tests -----------------------------------------------------------------------------------


def _missing_p_value(ref_missing: int, ref_n: int, cur_missing: int, cur_n: int) -> float | None:
    """Chi-square test (Yates) that the share of missing values is the same; None if no NaN."""
    if ref_missing == 0 and cur_missing == 0:
        return None
    if ref_missing == ref_n and cur_missing == cur_n:
        return None
    from scipy.stats import chi2_contingency

    table = np.array([[ref_missing, ref_n - ref_missing], [cur_missing, cur_n - cur_missing]])
    return float(chi2_contingency(table, correction=True).pvalue)


def _chi2_homogeneity(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Chi-square statistic and p-value that two count vectors come from the same shares."""
    from scipy.stats import chi2_contingency

    table = np.vstack([ref_counts, cur_counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    result = chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def _fmt(value: float) -> str:
    return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _fmt_p(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def _verdict(name: str, value_psi: float, p_value: float, psi_threshold: float,
             alpha: float, test: str) -> tuple[bool, str]:
    material = value_psi >= psi_threshold
    significant = p_value < alpha
    stats = f"PSI {value_psi:.3f} {'≥' if material else '<'} {psi_threshold:g}, {test} " \
            f"{_fmt_p(p_value)} {'<' if significant else '≥'} {alpha:g}"
    if material and significant:
        return True, f"{name} drifted: {stats}"
    if material:
        return False, f"{name} shifted but not significantly: {stats}"
    if significant:
        return False, f"{name} shifted significantly but negligibly: {stats}"
    return False, f"{name} is stable: {stats}"


def _numeric_drift(name: str, ref: pd.Series, cur: pd.Series, psi_threshold: float,
                   alpha: float, n_bins: int) -> FeatureDrift:
    from scipy.stats import ks_2samp

    ref_values = pd.to_numeric(ref, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    cur_values = pd.to_numeric(cur, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    # ±inf are values beyond every edge (the outer buckets), not missing
    edges = numeric_bins(ref_values, n_bins)
    value_psi = psi(_shares(_numeric_counts(ref_values, edges)),
                    _shares(_numeric_counts(cur_values, edges)))
    ref_present = ref_values[~np.isnan(ref_values)]
    cur_present = cur_values[~np.isnan(cur_values)]
    ks_stat: float | None = None
    ks_p: float | None = None
    if ref_present.size and cur_present.size:
        ks = ks_2samp(ref_present, cur_present)
        ks_stat, ks_p = float(ks.statistic), float(ks.pvalue)
    missing_p = _missing_p_value(len(ref_values) - ref_present.size, len(ref_values),
                                 len(cur_values) - cur_present.size, len(cur_values))
    if ks_p is not None and missing_p is not None:
        test, p_value = "ks+missing", min(1.0, 2 * min(ks_p, missing_p))
    elif ks_p is not None:
        test, p_value = "ks", ks_p
    elif missing_p is not None:
        test, p_value = "missing", missing_p
    else:
        test, p_value = "ks", 1.0
    drifted, reason = _verdict(name, value_psi, p_value, psi_threshold, alpha, test)
    if ref_present.size and cur_present.size:
        detail = f"mean {_fmt(float(ref_present.mean()))} → {_fmt(float(cur_present.mean()))}"
    else:
        detail = "no values on one side"
    ref_missing = 1 - ref_present.size / len(ref_values)
    cur_missing = 1 - cur_present.size / len(cur_values)
    if abs(cur_missing - ref_missing) >= 0.05:
        detail += f", missing {ref_missing:.0%} → {cur_missing:.0%}"
    return FeatureDrift(
        feature=name, kind="numeric", psi=value_psi, test=test,
        statistic=ks_stat if ks_stat is not None else 0.0, p_value=p_value, drifted=drifted,
        reason=reason, detail=detail, n_reference=len(ref_values), n_current=len(cur_values),
        missing_reference=ref_missing, missing_current=cur_missing,
        ks_statistic=ks_stat, ks_p_value=ks_p,
    )


def _as_labels(column: pd.Series) -> pd.Series:
    """Category labels as strings, NaN kept as NaN."""
    column = column.reset_index(drop=True)  # resamples repeat index labels
    return column.astype("string").astype(object).where(column.notna(), None)


def _categorical_drift(name: str, ref: pd.Series, cur: pd.Series, psi_threshold: float,
                       alpha: float, max_categories: int) -> FeatureDrift:
    ref_labels, cur_labels = _as_labels(ref), _as_labels(cur)
    ref_counts_all = ref_labels.value_counts(dropna=True)
    kept = list(ref_counts_all.index[:max_categories])
    has_other = len(ref_counts_all) > max_categories
    seen = set(ref_counts_all.index)

    def bucket(labels: pd.Series) -> pd.Series:
        out = labels.where(labels.isin(kept), None).astype(object)
        out[labels.notna() & ~labels.isin(seen)] = UNSEEN
        if has_other:
            out[labels.notna() & labels.isin(seen) & ~labels.isin(kept)] = OTHER
        return out.where(labels.notna() | out.notna(), MISSING)

    buckets = [*kept, *([OTHER] if has_other else []), UNSEEN, MISSING]
    ref_counts = bucket(ref_labels).value_counts().reindex(buckets, fill_value=0)
    cur_counts = bucket(cur_labels).value_counts().reindex(buckets, fill_value=0)
    ref_arr, cur_arr = ref_counts.to_numpy(float), cur_counts.to_numpy(float)
    ref_shares, cur_shares = _shares(ref_arr), _shares(cur_arr)
    value_psi = psi(ref_shares, cur_shares)
    statistic, p_value = _chi2_homogeneity(ref_arr, cur_arr)
    drifted, reason = _verdict(name, value_psi, p_value, psi_threshold, alpha, "chi2")
    moved = int(np.argmax(np.abs(cur_shares - ref_shares)))
    detail = (f"share of {buckets[moved]!r} {ref_shares[moved]:.0%} → {cur_shares[moved]:.0%}"
              if len(ref_labels) and len(cur_labels) else "no values on one side")
    return FeatureDrift(
        feature=name, kind="categorical", psi=value_psi, test="chi2", statistic=statistic,
        p_value=p_value, drifted=drifted, reason=reason, detail=detail,
        n_reference=len(ref_labels), n_current=len(cur_labels),
        missing_reference=float(ref_labels.isna().mean()) if len(ref_labels) else 0.0,
        missing_current=float(cur_labels.isna().mean()) if len(cur_labels) else 0.0,
    )


def _kind(ref: pd.Series, cur: pd.Series) -> FeatureKind | None:
    """numeric, categorical, or None for a column not compared by default (dates, times)."""
    def numeric(s: pd.Series) -> bool:
        return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)

    def temporal(s: pd.Series) -> bool:
        return pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_timedelta64_dtype(s)

    if temporal(ref) or temporal(cur):
        return None
    if numeric(ref) and (numeric(cur) or cur.isna().all()):
        return "numeric"
    if numeric(cur) and ref.isna().all():
        return "numeric"
    return "categorical"


def feature_drift(name: str, reference: pd.Series, current: pd.Series, *,
                  kind: FeatureKind | None = None, psi_threshold: float | None = None,
                  alpha: float | None = None, n_bins: int = N_BINS,
                  max_categories: int = MAX_CATEGORIES) -> FeatureDrift:
    """Drift of one column; ``kind`` is inferred from the dtypes when not given."""
    settings = get_settings()
    psi_threshold = settings.drift_psi_threshold if psi_threshold is None else psi_threshold
    alpha = settings.drift_ks_alpha if alpha is None else alpha
    if len(reference) == 0 or len(current) == 0:
        raise ModelError(f"cannot compare {name!r}: the reference or the current batch is empty")
    if kind is None:
        kind = _kind(reference, current)
        if kind is None:  # asked for explicitly: compare dates and durations as numbers
            reference, current = _temporal_as_number(reference), _temporal_as_number(current)
            kind = "numeric"
    if kind == "numeric":
        return _numeric_drift(name, reference, current, psi_threshold, alpha, n_bins)
    return _categorical_drift(name, reference, current, psi_threshold, alpha, max_categories)


def _temporal_as_number(column: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(column):
        return (column - pd.Timestamp("1970-01-01", tz=getattr(column.dt, "tz", None))) \
            .dt.total_seconds()
    if pd.api.types.is_timedelta64_dtype(column):
        return column.dt.total_seconds()
    return pd.to_numeric(column, errors="coerce")


def _prediction_kind(reference: pd.Series) -> FeatureKind:
    """Class labels (few distinct values, or not numbers) are compared as categories."""
    if (pd.api.types.is_numeric_dtype(reference) and not pd.api.types.is_bool_dtype(reference)
            and reference.nunique(dropna=True) > MAX_CATEGORIES):
        return "numeric"
    return "categorical"


# --- the report ------------------------------------------------------------------------------


def _check_frame(frame: object, what: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise ModelError(f"the {what} data must be a pandas DataFrame, not {type(frame).__name__}")
    if frame.empty or frame.shape[1] == 0:
        raise ModelError(f"the {what} data is empty: drift needs rows in both batches")
    return frame


def _feature_list(reference: pd.DataFrame, current: pd.DataFrame,
                  features: Sequence[str] | None) -> tuple[list[str], list[str]]:
    if features is not None:
        features = list(features)
        if not features:
            raise ModelError("features is an empty list: name at least one column to compare")
        missing = [f for f in features if f not in reference.columns or f not in current.columns]
        if missing:
            raise ModelError(f"column(s) {missing} are not in both the reference and the current "
                             "data: pick features from their common columns")
        return features, []
    common = [c for c in reference.columns if c in set(current.columns)]
    if not common:
        raise ModelError("the reference and the current data have no column in common: "
                         "are they the same kind of table?")
    chosen: list[str] = []
    skipped: list[str] = []
    for c in common:
        (chosen if _kind(reference[c], current[c]) is not None else skipped).append(c)
    if skipped:
        logger.info("drift: not comparing date/time column(s) %s", skipped)
    if not chosen:
        raise ModelError(f"the common columns {common} are all dates or times: "
                         "pass features=[...] to compare them anyway")
    return chosen, skipped


def _performance(reference_metric: float | None, current_metric: float | None,
                 metric_name: str | None, higher_is_better: bool,
                 threshold: float) -> PerformanceDecay | None:
    if reference_metric is None and current_metric is None:
        return None
    if reference_metric is None or current_metric is None:
        raise ModelError("give both reference_metric and current_metric to check for decay")
    ref, cur = float(reference_metric), float(current_metric)
    if not (np.isfinite(ref) and np.isfinite(cur)):
        raise ModelError(f"metrics must be finite numbers, got {ref} and {cur}")
    drop = ref - cur if higher_is_better else cur - ref
    return PerformanceDecay(metric=metric_name or "metric", reference=ref, current=cur,
                            drop=drop, threshold=threshold, higher_is_better=higher_is_better,
                            decayed=drop > threshold)


def _explain(features: Sequence[FeatureDrift], share: float, share_threshold: float,
             prediction: FeatureDrift | None, performance: PerformanceDecay | None,
             should_retrain: bool) -> str:
    drifted = sorted((f for f in features if f.drifted), key=lambda f: -f.psi)
    n, k = len(features), len(drifted)
    if drifted:
        named = "; ".join(f"{f.feature} (PSI {f.psi:.2f}, {_fmt_p(f.p_value)}, {f.detail})"
                          for f in drifted[:3])
        more = f" and {k - 3} more" if k > 3 else ""
        parts = [f"{k} of {n} features drifted ({share:.0%} "
                 f"{'≥' if share >= share_threshold else '<'} {share_threshold:.0%}): "
                 f"{named}{more}"]
    else:
        worst = max(features, key=lambda f: f.psi)
        parts = [f"none of the {n} features drifted (largest PSI {worst.psi:.2f} on "
                 f"{worst.feature}, {_fmt_p(worst.p_value)})"]
    if prediction is not None:
        parts.append(f"predictions {'drifted' if prediction.drifted else 'are stable'} "
                     f"(PSI {prediction.psi:.2f}, {_fmt_p(prediction.p_value)})")
    if performance is not None:
        verb = "fell" if performance.drop > 0 else "went"
        parts.append(f"{performance.metric} {verb} from {performance.reference:.3g} to "
                     f"{performance.current:.3g} (drop {performance.drop:.3g} "
                     f"{'>' if performance.decayed else '≤'} {performance.threshold:g})")
    verdict = "retrain recommended" if should_retrain else "no retrain needed"
    text = "; ".join(parts)
    return f"{text[0].upper()}{text[1:]}: {verdict}."


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    features: Sequence[str] | None = None,
    reference_predictions: Sequence[Any] | np.ndarray | pd.Series | None = None,
    current_predictions: Sequence[Any] | np.ndarray | pd.Series | None = None,
    reference_metric: float | None = None,
    current_metric: float | None = None,
    metric_name: str | None = None,
    higher_is_better: bool = True,
    psi_threshold: float | None = None,
    alpha: float | None = None,
    share_threshold: float | None = None,
    decay_threshold: float | None = None,
    n_bins: int = N_BINS,
    max_categories: int = MAX_CATEGORIES,
) -> DriftReport:
    """Compare ``current`` with ``reference`` (e.g. the training data).

    ``features`` defaults to the common columns that are not dates or times. Predictions of the
    model on each batch give prediction drift; metrics on each batch give performance decay.
    Thresholds default to the settings (``drift_psi_threshold``, ``drift_ks_alpha``,
    ``drift_share_threshold``, ``decay_threshold``).
    """
    settings = get_settings()
    psi_threshold = settings.drift_psi_threshold if psi_threshold is None else psi_threshold
    alpha = settings.drift_ks_alpha if alpha is None else alpha
    share_threshold = settings.drift_share_threshold if share_threshold is None \
        else share_threshold
    decay_threshold = settings.decay_threshold if decay_threshold is None else decay_threshold
    if n_bins < 2:
        raise ModelError(f"n_bins must be at least 2, got {n_bins}")
    reference = _check_frame(reference, "reference")
    current = _check_frame(current, "current")
    names, skipped = _feature_list(reference, current, features)

    results = tuple(
        feature_drift(str(name), reference[name], current[name], psi_threshold=psi_threshold,
                      alpha=alpha, n_bins=n_bins, max_categories=max_categories)
        for name in names
    )
    prediction = None
    if (reference_predictions is None) != (current_predictions is None):
        raise ModelError("give both reference_predictions and current_predictions "
                         "to check prediction drift")
    if reference_predictions is not None and current_predictions is not None:
        ref_pred = pd.Series(np.asarray(reference_predictions).ravel())
        cur_pred = pd.Series(np.asarray(current_predictions).ravel())
        if ref_pred.empty or cur_pred.empty:
            raise ModelError("the reference or the current predictions are empty")
        prediction = feature_drift(PREDICTION, ref_pred, cur_pred,
                                   kind=_prediction_kind(ref_pred), psi_threshold=psi_threshold,
                                   alpha=alpha, n_bins=n_bins, max_categories=max_categories)
    performance = _performance(reference_metric, current_metric, metric_name, higher_is_better,
                               decay_threshold)

    share = sum(f.drifted for f in results) / len(results)
    data_drifted = share >= share_threshold
    reasons = []
    if data_drifted:
        reasons.append("data drift")
    if prediction is not None and prediction.drifted:
        reasons.append("prediction drift")
    if performance is not None and performance.decayed:
        reasons.append("performance decay")
    drifted = data_drifted or (prediction is not None and prediction.drifted)
    should_retrain = bool(reasons)
    explanation = _explain(results, share, share_threshold, prediction, performance,
                           should_retrain)
    logger.info("drift report: %s", explanation)
    return DriftReport(
        features=results, prediction=prediction, performance=performance, drift_share=share,
        data_drifted=data_drifted, drifted=drifted, should_retrain=should_retrain,
        reasons=tuple(reasons), explanation=explanation, n_reference=len(reference),
        n_current=len(current),
        thresholds={"psi": psi_threshold, "alpha": alpha, "share": share_threshold,
                    "decay": decay_threshold},
        skipped=tuple(str(s) for s in skipped),
    )
