"""The leakage guard: columns that give the target away, named and left out before a model is
searched, trained or explained.

``find_leaks(frame, target)`` checks every other column of ``frame`` on a random sample of at
most ``MAX_ROWS`` rows (cheap: well under a second on a million rows) and returns a
``LeakReport`` naming each column left out, why in words, and the number that shows it:

- **copies** of the target, and one-to-one relabellings of its classes;
- **monotone transforms** of a numeric target (``log(price)``, ``2 * price``): the absolute
  Spearman rank correlation is at least ``MONOTONE_RHO``;
- **near-perfect single columns**: a column that on its own predicts the target almost
  perfectly out of fold (``NEAR_PERFECT`` of the possible gain over the baseline) while every
  other column is far from it — post-outcome counts, identifiers that separate the classes;
- **identifiers**: a distinct value on every row (text, uuids, integers named like an id, or
  integers increasing with the row order, unless they look like years or are named like a
  time): they cannot generalise to new rows.

Columns named in ``keep`` are still checked and reported, but kept (``--keep-column``).
``prepare_features`` returns the frame without the leaks and the report, for callers that
train on the result (``ModelTrainer``, ``hub train``); ``leak_tags`` is the report as MLflow
tags.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hub_kernel.exceptions import ModelError

if TYPE_CHECKING:
    from hub_kernel.models.features import FeaturePlan

#: rows a check looks at (a random sample of bigger frames)
MAX_ROWS = 20_000
#: |Spearman rho| from which a numeric column is a monotone transform of a numeric target
MONOTONE_RHO = 0.995
#: share of the possible gain over the baseline from which a single column is near perfect
NEAR_PERFECT = 0.98
#: ... provided the best column not flagged is at least this much below it
MARGIN = 0.2
#: most quantile bins a numeric column is cut into for its single-column score
BINS = 64
#: fewest rows the checks need (below it, nothing is flagged)
MIN_ROWS = 20

_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$",
                   re.IGNORECASE)
_TIME_NAME = re.compile(r"(^|[_\s.-])(year|yr|date|time|month|week|day|hour|period|quarter"
                        r"|epoch|timestamp)s?$|^(t|step)$", re.IGNORECASE)
_ID_NAME = re.compile(r"(^|[_\s.-])(id|uuid|guid|key)$|^(id|uuid|guid)([_\s.-]|$)|^unnamed",
                      re.IGNORECASE)


@dataclass(frozen=True)
class Leak:
    """One column that gives the target away (or cannot generalise): why, and the number."""

    column: str
    kind: str  # "copy", "relabelling", "monotone", "near_perfect", "identifier"
    reason: str  # in words, naming the target
    measure: str  # what ``evidence`` is ("Spearman", "single-column balanced accuracy"...)
    evidence: float

    def describe(self) -> str:
        """``log_price — a monotone transform of price (Spearman 1.000)``."""
        return f"{self.column} — {self.reason} ({self.measure} {self.evidence:.3f})"

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "kind": self.kind, "reason": self.reason,
                "measure": self.measure, "evidence": self.evidence}


@dataclass(frozen=True)
class LeakReport:
    """What the guard found for ``target``: the columns left out, and those kept on request."""

    target: str
    task: str
    leaks: tuple[Leak, ...] = ()  # left out
    kept: tuple[Leak, ...] = ()  # found, but kept on request
    rows_checked: int = 0
    seconds: float = 0.0

    @property
    def excluded(self) -> tuple[str, ...]:
        """The names of the columns left out."""
        return tuple(leak.column for leak in self.leaks)

    def __bool__(self) -> bool:
        return bool(self.leaks or self.kept)

    def lines(self, option: str = "--keep-column") -> list[str]:
        """One line per finding, for a terminal (``option`` is how to keep a column)."""
        out = [f"left out: {leak.describe()}; use {option} {leak.column} to keep it"
               for leak in self.leaks]
        out += [f"kept on request: {leak.describe()}" for leak in self.kept]
        return out

    def caveats(self) -> list[str]:
        """One sentence per finding, for a report's caveats (no option named)."""
        out = [f"{leak.column} was left out as a leak of {self.target}: {leak.reason} "
               f"({leak.measure} {leak.evidence:.3f})" for leak in self.leaks]
        out += [f"{leak.column} looks like a leak of {self.target} ({leak.reason}) but was "
                "kept on request: every figure that uses it may be too good"
                for leak in self.kept]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "task": self.task,
                "leaks": [leak.to_dict() for leak in self.leaks],
                "kept": [leak.to_dict() for leak in self.kept],
                "rows_checked": self.rows_checked, "seconds": self.seconds}


def find_leaks(frame: pd.DataFrame, target: str | pd.Series, task: str | None = None,
               keep: Iterable[str] = (), *, max_rows: int = MAX_ROWS,
               seed: int = 0) -> LeakReport:
    """Check the columns of ``frame`` for leaks of ``target`` (a column of ``frame``, or a
    Series of the target with one value per row of ``frame``, which then holds only the
    features). ``task`` (``classification``/``regression``) is inferred when not given.
    Columns in ``keep`` are reported as kept; a name in ``keep`` that is no column raises
    ``ModelError``."""
    from hub_kernel.models.features import infer_task

    started = time.perf_counter()
    if isinstance(target, str):
        if target not in frame.columns:
            raise ModelError(f"no column {target!r} to use as the target; columns: "
                             f"{', '.join(map(str, frame.columns[:20]))}")
        y = frame[target]
        X = frame.drop(columns=[target])
        name = target
    else:
        if len(target) != len(frame):
            raise ModelError(f"the target has {len(target)} values for {len(frame)} rows")
        y = pd.Series(np.asarray(target), index=frame.index)
        X = frame
        name = str(target.name) if target.name is not None else "the target"
    kept_names = _check_keep(keep, X, name)
    labelled = y.notna().to_numpy()
    task = task or infer_task(y[labelled])
    rows = np.flatnonzero(labelled)
    if len(rows) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_rows, replace=False))
    found = _Checks(X, y, rows, name, task, seed).run()
    leaks = tuple(f for f in found if f.column not in kept_names)
    kept = tuple(f for f in found if f.column in kept_names)
    return LeakReport(name, task, leaks, kept, len(rows), time.perf_counter() - started)


def prepare_features(frame: pd.DataFrame, target: str, keep: Iterable[str] = (), *,
                     task: str | None = None) -> tuple[pd.DataFrame, LeakReport]:
    """``frame`` (target included) without the columns that leak ``target``, and the
    ``LeakReport`` saying which and why: what a trainer calls before it fits anything."""
    report = find_leaks(frame, target, task, keep)
    return frame.drop(columns=list(report.excluded)), report


def leak_tags(report: LeakReport | None) -> dict[str, str]:
    """The report as MLflow tags: ``hub.leaks_excluded`` (column names, ``-`` for none),
    ``hub.leaks`` (each with its reason) and ``hub.leaks_kept``."""
    if report is None:
        return {}
    return {"hub.leaks_excluded": ", ".join(report.excluded) or "-",
            "hub.leaks": "; ".join(leak.describe() for leak in report.leaks) or "-",
            "hub.leaks_kept": ", ".join(leak.column for leak in report.kept) or "-"}


def _time_like(name: str, column: pd.Series) -> bool:
    """A column of times: dates, or numbers named like a time or holding only years."""
    if pd.api.types.is_datetime64_any_dtype(column):
        return True
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return False
    if _TIME_NAME.search(name):
        return True
    values = column.dropna()
    return bool(len(values)) and bool(((values % 1 == 0) & values.between(1800, 2100)).all())


def _check_keep(keep: Iterable[str], X: pd.DataFrame, target: str) -> set[str]:
    names = [str(k) for k in keep]
    columns = {str(c) for c in X.columns}
    unknown = [k for k in names if k not in columns]
    if unknown:
        if target in unknown:
            raise ModelError(f"{target!r} is the target: it cannot be kept as a feature")
        raise ModelError(f"cannot keep {', '.join(map(repr, unknown))}: no such column; "
                         f"columns: {', '.join(sorted(columns)[:20])}")
    return set(names)


class _Checks:
    """The checks of one ``find_leaks`` call, on the sampled rows."""

    def __init__(self, X: pd.DataFrame, y: pd.Series, rows: np.ndarray, target: str,
                 task: str, seed: int) -> None:
        self.X_full, self.rows, self.target, self.task = X, rows, target, task
        self.X = X.iloc[rows]
        self.y = y.iloc[rows].reset_index(drop=True)
        self.seed = seed
        self.fold = np.random.default_rng(seed).integers(0, 2, len(rows))
        self.y_rank: np.ndarray | None = None

    def run(self) -> list[Leak]:
        if len(self.rows) < MIN_ROWS:
            return []
        found: dict[str, Leak] = {}
        numeric_y = self.numeric_y = self._numeric_target()
        self.y_text = self.y.astype(object).astype(str).to_numpy()
        self.y_codes = pd.factorize(self.y_text)[0]
        scores: dict[str, float] = {}
        for name in self.X.columns:
            column = self.X[name].reset_index(drop=True)
            key = str(name)
            if column.notna().sum() < MIN_ROWS:
                continue
            if _time_like(key, column):  # a target that follows time is no leak of it
                continue
            try:
                leak = (self._copy(key, column)
                        or self._monotone(key, column,
                                          numeric_y if self.task == "regression" else None)
                        or self._identifier(key, name, column))
                score = self._single_score(column) if leak is None else None
            except (TypeError, ValueError):  # cells holding lists or mappings: not checked
                continue
            if leak is not None:
                found[key] = leak
                continue
            if score is not None:
                scores[key] = score
        # near-perfect columns are leaks when they are few and the rest are far from them
        near = {k for k, v in scores.items() if v >= NEAR_PERFECT}
        runner_up = max((v for k, v in scores.items() if k not in near), default=0.0)
        few = len(near) <= max(2, len(scores) // 4)
        for key, score in scores.items():
            if key in near and few and runner_up <= score - MARGIN:
                found[key] = Leak(
                    key, "near_perfect",
                    f"on its own it predicts {self.target} almost perfectly and no other "
                    f"column comes close (the next best: {runner_up:.2f}), so it was likely "
                    "recorded after the outcome", self._score_measure(), score)
        return [found[str(c)] for c in self.X.columns if str(c) in found]

    # -- the checks ------------------------------------------------------------------------
    def _numeric_target(self) -> np.ndarray | None:
        if not pd.api.types.is_numeric_dtype(self.y) and self.task != "regression":
            return None
        values = pd.to_numeric(self.y, errors="coerce").to_numpy(dtype="float64")
        return values if np.isfinite(values).mean() > 0.9 else None

    def _copy(self, key: str, column: pd.Series) -> Leak | None:
        present = column.notna().to_numpy()
        values = column[present]
        if len(values) < MIN_ROWS or values.nunique() < 2:
            return None
        numeric = (pd.api.types.is_numeric_dtype(values)
                   and not pd.api.types.is_bool_dtype(values))
        if numeric and self.numeric_y is not None:
            same = np.isclose(values.to_numpy(dtype="float64"), self.numeric_y[present],
                              rtol=1e-9, atol=0)
        elif numeric != (self.numeric_y is not None):
            same = np.zeros(1, dtype=bool)  # numbers against text: no copy
        else:
            same = (values.astype(object).astype(str).to_numpy()
                    == self.y_text[present])
        share = float(same.mean())
        if share >= 0.999:
            return Leak(key, "copy", f"a copy of {self.target}", "share of equal values", share)
        distinct = values.nunique()
        if self.task == "classification" and distinct <= max(2, len(values) // 10):
            codes = pd.factorize(values)[0]
            labels = self.y_codes[present]
            pairs = np.unique(codes * (int(labels.max()) + 1) + labels).size
            if pairs == distinct == np.unique(labels).size:  # one value per class, and back
                return Leak(key, "relabelling", f"{self.target}'s classes under other names "
                            "(one value per class)", "share of rows matched", 1.0)
        return None

    def _monotone(self, key: str, column: pd.Series, y: np.ndarray | None) -> Leak | None:
        if y is None or pd.api.types.is_bool_dtype(column):
            return None
        if not pd.api.types.is_numeric_dtype(column):
            return None
        x = column.to_numpy(dtype="float64", na_value=np.nan)
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.sum() < MIN_ROWS or np.unique(x[ok]).size < 3:
            return None
        if ok.all():
            if self.y_rank is None:
                self.y_rank = pd.Series(y).rank().to_numpy()
            y_rank = self.y_rank
        else:
            y_rank = pd.Series(y[ok]).rank().to_numpy()
        x_rank = pd.Series(x[ok]).rank().to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = float(np.corrcoef(x_rank, y_rank)[0, 1])
        if np.isfinite(rho) and abs(rho) >= MONOTONE_RHO:
            return Leak(key, "monotone", f"a monotone transform of {self.target}", "Spearman",
                        abs(rho))
        return None

    def _identifier(self, key: str, name: Any, column: pd.Series) -> Leak | None:
        values = column.dropna()
        if len(values) < MIN_ROWS or values.nunique() != len(values):
            return None
        if pd.api.types.is_datetime64_any_dtype(values) or pd.api.types.is_bool_dtype(values):
            return None
        if pd.api.types.is_numeric_dtype(values):
            whole = bool(pd.api.types.is_integer_dtype(values) or (values % 1 == 0).all())
            if not whole:
                return None
            full = self.X_full[name]
            if _time_like(key, values):
                return None  # years, periods, timestamps: an order in time, not an id
            if _ID_NAME.search(key) and full.dropna().is_unique:
                why = "an identifier (a distinct whole number on every row, named like an id)"
            elif full.is_monotonic_increasing and full.is_unique:
                why = "an identifier (distinct whole numbers increasing with the row order)"
            else:
                return None
            return Leak(key, "identifier", why, "share of distinct values", 1.0)
        text = values.astype(str)
        sample = text.head(200)
        if sample.map(lambda v: bool(_UUID.match(v))).mean() >= 0.9:
            why = "an identifier (a distinct uuid on every row)"
        else:
            parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
            if parsed.notna().mean() >= 0.9:  # dates or times written as text: not an id
                return None
            numbers = pd.to_numeric(sample, errors="coerce")
            if numbers.notna().mean() >= 0.9 and (numbers.dropna() % 1 != 0).any():
                return None  # measurements stored as text
            why = "an identifier (a distinct value on every row)"
        return Leak(key, "identifier", why, "share of distinct values", 1.0)

    # -- single-column scores ----------------------------------------------------------------
    def _score_measure(self) -> str:
        return ("single-column score" if self.task == "classification"
                else "single-column R²")

    def _single_score(self, column: pd.Series) -> float | None:
        """Out-of-fold score of predicting the target from ``column`` alone (numbers cut
        into quantile bins, categories as they are): the share of the possible gain over the
        baseline, 1 for perfect. Two folds; categories unseen in the other fold predict the
        baseline."""
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            x = pd.to_numeric(column, errors="coerce").replace([np.inf, -np.inf], np.nan)
            bins = int(np.clip(len(x) // 20, 8, BINS))  # about ten rows a bin in a fold
            if x.nunique() > bins:  # quantile bins
                x = np.floor((x.rank(method="first") - 1) * bins / x.notna().sum())
            groups = pd.factorize(x)[0]  # missing values: -1, a group of their own
        elif pd.api.types.is_datetime64_any_dtype(column):
            return None
        else:
            groups = pd.factorize(column)[0]
        groups = groups - groups.min()  # codes from 0
        if self.task == "classification":
            return self._class_score(groups)
        return self._value_score(groups)

    def _class_score(self, groups: np.ndarray) -> float | None:
        labels = self.y_codes
        k = int(labels.max()) + 1
        if k < 2:
            return None
        predicted = np.empty(len(labels), dtype="int64")
        n_groups = int(groups.max()) + 1
        for fold in (0, 1):
            train, test = self.fold != fold, self.fold == fold
            if not train.any() or not test.any():
                return None
            counts = np.bincount(groups[train] * k + labels[train],
                                 minlength=n_groups * k).reshape(n_groups, k)
            majority = counts.argmax(axis=1)
            # a group unseen in the other fold predicts the most common class
            majority[counts.sum(axis=1) == 0] = int(np.bincount(labels[train], minlength=k)
                                                     .argmax())
            predicted[test] = majority[groups[test]]
        recalls = [float(np.mean(predicted[labels == c] == c)) for c in range(k)
                   if (labels == c).any()]
        balanced = float(np.mean(recalls))
        chance = 1.0 / k
        return max(0.0, (balanced - chance) / (1.0 - chance))

    def _value_score(self, groups: np.ndarray) -> float | None:
        y = pd.to_numeric(self.y, errors="coerce").to_numpy(dtype="float64")
        ok = np.isfinite(y)
        if ok.sum() < MIN_ROWS or np.var(y[ok]) == 0:
            return None
        y, groups, folds = y[ok], groups[ok], self.fold[ok]
        predicted = np.empty(len(y))
        n_groups = int(groups.max()) + 1
        for fold in (0, 1):
            train, test = folds != fold, folds == fold
            if not train.any() or not test.any():
                return None
            sums = np.bincount(groups[train], weights=y[train], minlength=n_groups)
            counts = np.bincount(groups[train], minlength=n_groups)
            with np.errstate(invalid="ignore", divide="ignore"):
                means = np.where(counts > 0, sums / np.maximum(counts, 1), y[train].mean())
            predicted[test] = means[groups[test]]
        r2 = 1.0 - float(np.sum((y - predicted) ** 2)) / float(np.sum((y - y.mean()) ** 2))
        return max(0.0, r2)


def without_leaks(plan: FeaturePlan, report: LeakReport) -> FeaturePlan:
    """``plan`` without the columns ``report`` leaves out (each dropped with its reason);
    ``ModelError`` when no feature is left."""
    from hub_kernel.models.features import FeaturePlan

    reasons = {leak.column: f"left out as a leak: {leak.reason}" for leak in report.leaks}
    kept = [c for c in plan.features if c not in reasons]
    if not kept:
        raise ModelError(
            f"every feature column leaks {report.target!r}: "
            + "; ".join(leak.describe() for leak in report.leaks)
            + ". Keep one on purpose (--keep-column COL, keep_columns=[...]) or bring other "
            "columns")
    return FeaturePlan(
        tuple(c for c in plan.numeric if c not in reasons),
        tuple(c for c in plan.categorical if c not in reasons),
        tuple(c for c in plan.datetime if c not in reasons),
        {**plan.dropped, **{c: why for c, why in reasons.items() if c not in plan.dropped}})
