"""Time series: trend and seasonality of numeric columns along a date column.

Per numeric column, values are averaged per timestamp, put on a regular grid (resampled to the
typical step when the timestamps are irregular) and then:

- trend: least-squares line against time (``scipy.stats.linregress``): slope per step unit
  (hour, day, week, month, quarter, year), its p-value, and the change over the whole period;
  Kendall's tau against time as a check that does not assume a straight line;
- seasonality: for candidate periods (the calendar's for the step: 7 and 365 days, 12 months,
  24 hours...; plus the strongest autocorrelation peak), the detrended series is averaged by
  phase. The strength is the share of the detrended variance the phase means explain, adjusted
  for what ``period`` means would explain in pure noise (like an adjusted R²), with the F-test's
  p-value. The strongest period with a p-value below 0.01 and an adjusted strength of at least
  10% is reported, with the phase where the series peaks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hub_kernel.analyses.base import Analysis, AnalysisResult, Fact, format_number, on_column
from hub_kernel.analyses.findings import comparison, holm

if TYPE_CHECKING:
    from hub_kernel.data.profile import DatasetProfile

ALPHA = 0.05
SEASONAL_ALPHA = 0.01
MIN_STRENGTH = 0.10
MIN_POINTS = 8
MAX_COLUMNS = 10

# (name, length in days, pandas frequency)
_STEPS: tuple[tuple[str, float, str], ...] = (
    ("minute", 1 / 1440, "min"), ("hour", 1 / 24, "h"), ("day", 1.0, "D"),
    ("week", 7.0, "W"), ("month", 30.44, "MS"), ("quarter", 91.31, "QS"), ("year", 365.25, "YS"),
)
# calendar periods worth testing, in steps of each unit
_PERIODS: dict[str, tuple[int, ...]] = {
    "minute": (60, 1440), "hour": (24, 168), "day": (7, 365), "week": (52,), "month": (12,),
    "quarter": (4,), "year": (),
}
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


@dataclass(frozen=True)
class Season:
    period: int
    strength: float  # adjusted, in [0, 1]
    p_value: float
    peak_phase: int
    profile: list[float]


def _step(typical: float) -> tuple[str, float, str]:
    """The standard step closest to a typical spacing (in days)."""
    return min(_STEPS, key=lambda s: abs(np.log(max(typical, 1e-9) / s[1])))


def regular_series(stamps: pd.Series, values: pd.Series) -> tuple[pd.Series, str, float, bool]:
    """``values`` on a regular time grid: (series, step name, step in days, resampled?)."""
    frame = pd.DataFrame({"t": pd.to_datetime(stamps, errors="coerce"),
                          "v": pd.to_numeric(values, errors="coerce")}).dropna()
    if getattr(frame["t"].dt, "tz", None) is not None:
        frame["t"] = frame["t"].dt.tz_convert(None)
    frame["t"] = frame["t"].dt.as_unit("ns")  # asi8 below counts nanoseconds
    series = frame.groupby("t")["v"].mean().sort_index()
    if len(series) < 2:
        return series, "day", 1.0, False
    gaps = np.diff(series.index.asi8) / 8.64e13
    name, days, freq = _step(float(np.median(gaps)))
    if np.mean(np.isclose(gaps, days, rtol=0.15)) >= 0.9:  # months: 28 to 31 days
        return series, name, days, False
    # irregular: a grid as fine as the average spacing (most cells then hold a value)
    name, days, freq = _step(float(np.mean(gaps)))
    grid = series.resample(freq).mean()
    filled = grid.interpolate(method="time", limit_area="inside").dropna()
    return filled, name, days, True


def _trend(series: pd.Series) -> dict[str, float]:
    from scipy import stats

    t = (series.index.asi8 - series.index.asi8[0]) / 8.64e13
    y = series.to_numpy(dtype="float64")
    fit = stats.linregress(t, y)
    tau = stats.kendalltau(t, y)
    return {"slope_per_day": float(fit.slope), "intercept": float(fit.intercept),
            "p_value": float(fit.pvalue), "r2": float(fit.rvalue ** 2),
            "kendall_tau": float(tau.statistic), "kendall_p": float(tau.pvalue),
            "span_days": float(t[-1]) if len(t) else 0.0}


def _seasons(residual: np.ndarray, periods: list[int]) -> list[Season]:
    from scipy import stats

    n = len(residual)
    total = float(np.sum((residual - residual.mean()) ** 2))
    found = []
    for period in periods:
        if period < 2 or n < 2 * period or total <= 0:
            continue
        phase = np.arange(n) % period
        sums = np.bincount(phase, residual, minlength=period)
        counts = np.bincount(phase, minlength=period)
        means = sums / np.maximum(counts, 1)
        within = float(np.sum((residual - means[phase]) ** 2))
        between = total - within
        raw = between / total
        expected = (period - 1) / (n - 1)
        strength = max(0.0, (raw - expected) / (1 - expected)) if expected < 1 else 0.0
        dof_within = n - period
        if dof_within <= 0 or within <= 0:
            p = 0.0 if within <= 0 else 1.0
        else:
            f = (between / (period - 1)) / (within / dof_within)
            p = float(stats.f.sf(f, period - 1, dof_within))
        found.append(Season(period, strength, p, int(np.argmax(means)), means.tolist()))
    return found


def _acf_peak(residual: np.ndarray, max_lag: int) -> int | None:
    """The lag (>= 2) of the highest autocorrelation peak, if it is a local maximum."""
    n = len(residual)
    max_lag = min(max_lag, n // 2)
    if max_lag < 3:
        return None
    x = residual - residual.mean()
    denominator = float(np.dot(x, x))
    if denominator <= 0:
        return None
    spectrum = np.fft.rfft(x, n=2 * n)
    acf = np.fft.irfft(spectrum * np.conj(spectrum))[: max_lag + 1] / denominator
    peaks = [lag for lag in range(2, max_lag) if acf[lag] > acf[lag - 1]
             and acf[lag] >= acf[lag + 1] and acf[lag] > 0.1]
    return max(peaks, key=lambda lag: acf[lag]) if peaks else None


def _peak_label(step: str, period: int, phase: int, start: pd.Timestamp, days: float) -> str:
    """The calendar name of a phase, when the period is a calendar one."""
    moment = start + pd.Timedelta(days=phase * days)
    if step == "day" and period == 7:
        return _DAYS[moment.day_of_week]
    if (step == "day" and period == 365) or (step == "week" and period == 52) or (
            step == "month" and period == 12):
        return _MONTHS[moment.month - 1]
    if step == "hour" and period == 24:
        return f"{moment.hour:02d}:00"
    if step == "hour" and period == 168:
        return f"{_DAYS[moment.day_of_week]} {moment.hour:02d}:00"
    if step == "quarter" and period == 4:
        return f"Q{moment.quarter}"
    return f"phase {phase} of {period}"


def _plural(unit: str, n: int) -> str:
    return unit if n == 1 else unit + "s"


class Trend(Analysis):
    """Trend (slope, p-value) and seasonality (period, strength, peak) over a date column."""

    name = "trend"
    title = "Trend and seasonality"
    requirement = "a date column and a numeric column"

    def applies(self, profile: DatasetProfile, target: str | None = None) -> bool:
        return (profile.n_rows >= MIN_POINTS and bool(profile.of_kind("datetime"))
                and any(c.n_unique > 1 for c in profile.of_kind("numeric")))

    def _run(self, frame: pd.DataFrame, profile: DatasetProfile, *, target: str | None = None,
             date: str | None = None, columns: list[str] | None = None,
             max_points: int = 1000) -> AnalysisResult:
        dates = [c.name for c in profile.of_kind("datetime")]
        if date is None:
            date = dates[0]
        elif date not in frame.columns:
            raise ValueError(f"no date column {date!r}; date columns: {', '.join(dates)}")
        names = columns if columns is not None else [
            c.name for c in profile.of_kind("numeric") if c.n_unique > 1]
        caveats: list[str] = []
        if len(names) > MAX_COLUMNS:
            caveats.append(f"only the first {MAX_COLUMNS} numeric columns are analysed")
            names = names[:MAX_COLUMNS]
        facts: list[Fact] = []
        rows: list[dict[str, Any]] = []
        series_by: dict[str, pd.Series] = {}
        fits: dict[str, dict[str, float]] = {}
        fitted: list[tuple[str, str, float, float, float, dict[str, float], list[Season]]] = []
        for column in names:
            with on_column(column):
                series, step, days, resampled = regular_series(frame[date], frame[column])
                if len(series) < MIN_POINTS or series.nunique() < 2:
                    continue
                if resampled and column == names[0]:
                    caveats.append(f"timestamps are irregular: values were averaged per {step}")
                fit = _trend(series)
                slope = fit["slope_per_day"] * days
                change = fit["slope_per_day"] * fit["span_days"]
                t = (series.index.asi8 - series.index.asi8[0]) / 8.64e13
                residual = series.to_numpy(dtype="float64") - (
                    fit["intercept"] + fit["slope_per_day"] * t)
                periods = [p for p in _PERIODS.get(step, ()) if len(series) >= 2 * p]
                peak = _acf_peak(residual, max_lag=400)
                if peak is not None and peak not in periods:
                    periods.append(peak)
                seasons = _seasons(residual, periods)
                series_by[column], fits[column] = series, fit
                fitted.append((column, step, days, slope, change, fit, seasons))
        # every trend and every period tried is a comparison: p-values are corrected together
        raw = [p for *_, fit, seasons in fitted
               for p in (fit["p_value"], *(s.p_value for s in seasons))]
        adjusted = iter(holm(raw))
        tests: list[dict[str, Any]] = []
        for column, step, days, slope, change, fit, seasons in fitted:
            fit["p_adjusted"] = next(adjusted)
            corrected = [(s, next(adjusted)) for s in seasons]
            real = [(s, adj) for s, adj in corrected if adj < SEASONAL_ALPHA
                    and s.strength >= MIN_STRENGTH]
            best, best_p = max(real, key=lambda sa: sa[0].strength) if real else (None, None)
            rows.append({"column": column, "points": len(series_by[column]), "step": step,
                         "slope": slope, "slope_unit": f"per {step}",
                         "p_value": fit["p_value"], "p_adjusted": fit["p_adjusted"],
                         "r2": fit["r2"], "change": change, "kendall_tau": fit["kendall_tau"],
                         "period": best.period if best else None,
                         "seasonal_strength_%": 100 * best.strength if best else None,
                         "seasonal_p_value": best.p_value if best else None,
                         "seasonal_p_adjusted": best_p})
            facts += self._facts(column, step, slope, change, fit, best,
                                 series_by[column], days, seasons, several=len(raw) > 1)
            tests.append(comparison(
                p_value=fit["p_value"], effect=float(np.sqrt(max(fit["r2"], 0.0))),
                measure="|r| of the fitted line", columns=(column,),
                facts=[f"trend.{column}.direction", f"trend.{column}.change",
                       f"trend.{column}.p_value"]))
            for season in seasons:
                tests.append(comparison(
                    p_value=season.p_value, effect=float(np.sqrt(season.strength)),
                    measure="square root of the seasonal strength", columns=(column,),
                    facts=[f"seasonality.{column}.period", f"seasonality.{column}.strength",
                           f"seasonality.{column}.peak"] if season is best else []))
        if not rows:
            raise ValueError(f"no numeric column has {MIN_POINTS} or more dated values")
        shown = max(fits, key=lambda c: fits[c]["r2"])
        series = series_by[shown]
        if len(series) > max_points:
            stride = int(np.ceil(len(series) / max_points))
            series = series.iloc[::stride]
            caveats.append("the chart shows every value at an even stride, not all of them")
        fit = fits[shown]
        t = (series.index.asi8 - series_by[shown].index.asi8[0]) / 8.64e13
        chart = {"type": "line", "x": [s.isoformat() for s in series.index],
                 "y": series.to_numpy(dtype="float64").tolist(), "column": shown,
                 "series": {"trend": (fit["intercept"] + fit["slope_per_day"] * t).tolist()},
                 "x_label": date, "y_label": shown}
        return self.result(facts=facts, table=pd.DataFrame(rows), chart=chart, caveats=caveats,
                           data={"date": date, "alpha": ALPHA, "tests": tests,
                                 "seasonal_alpha": SEASONAL_ALPHA})

    @staticmethod
    def _facts(column: str, step: str, slope: float, change: float, fit: dict[str, float],
               best: Season | None, series: pd.Series, days: float,
               seasons: list[Season], several: bool = False) -> list[Fact]:
        p = fit["p_adjusted"]
        significant = p < ALPHA
        direction = ("upward" if slope > 0 else "downward") if significant else "flat"
        verb = "rising" if slope > 0 else "falling"
        facts = [
            Fact(f"trend.{column}.direction", f"The trend of {column} is {direction}.",
                 direction),
            Fact(f"trend.{column}.slope", f"On the fitted line, {column} changes by "
                 f"{format_number(slope)} per {step} ({verb}).", slope, f"per {step}"),
            Fact(f"trend.{column}.p_value",
                 f"The trend is {'' if significant else 'not '}statistically significant "
                 f"(p-value {format_number(p, p_value=True)}"
                 f"{', corrected for the tests made' if several else ''}).", p,
                 style="p_value"),
            Fact(f"trend.{column}.change", f"Over the whole period the fitted trend changes "
                 f"{column} by {format_number(change)}.", change),
        ]
        if best is not None:
            unit = _plural(step, best.period)
            label = _peak_label(step, best.period, best.peak_phase,
                                pd.Timestamp(series.index[0]), days)
            facts += [
                Fact(f"seasonality.{column}.period", f"{column} follows a cycle of "
                     f"{format_number(best.period)} {unit}.", best.period, unit),
                Fact(f"seasonality.{column}.strength", f"The cycle explains "
                     f"{format_number(100 * best.strength)}% of the variation around the "
                     "trend.", 100 * best.strength, "%"),
                Fact(f"seasonality.{column}.peak", f"Within the cycle, {column} peaks at "
                     f"{label}.", label),
            ]
        else:
            strongest = max((s.strength for s in seasons), default=0.0)
            facts.append(Fact(f"seasonality.{column}.strength", f"{column} shows no clear "
                              f"seasonal cycle (strength {format_number(100 * strongest)}%).",
                              100 * strongest, "%"))
        return facts


ANALYSES: tuple[type[Analysis], ...] = (Trend,)
