"""Fairness of models: which columns look sensitive and how evenly a model treats their groups.

A model whose version declares sensitive attributes (tag ``hub.sensitive``) is promoted only
when its fairness check passed (``hub.fairness_decision = pass``; see
``ModelRegistry.promote``). ``fairness_report`` measures, for each declared attribute on its
own (not their intersections):

- classification: fairlearn's ``demographic_parity_difference`` (largest gap in the share of
  rows predicted as a class between two groups) and ``equalized_odds_difference`` (largest
  gap in true- or false-positive rate). A binary target is judged for its positive class
  (the last label in sorted order: 1, True, "yes"; both metrics are symmetric in the two
  classes). A multiclass target is reduced one-vs-rest: each class in turn is the positive
  class, and the report keeps the largest difference over the classes (naming that class);
- regression: the gap between the highest and lowest group mean prediction, and between
  the highest and lowest group mean absolute error, each divided by the standard deviation
  of the target (so they are unit-free and the same threshold applies), from fairlearn's
  ``MetricFrame``.

The model passes when every difference is at most the threshold (``HUB_FAIRNESS_THRESHOLD``,
0.2 by default). Only groups with at least ``HUB_FAIRNESS_MIN_GROUP_SIZE`` rows are judged
(smaller ones are listed, marked not judged); an attribute with fewer than two such groups
cannot be judged, and the check then fails (a person may override). Equalized odds skips
the groups holding only one true class (their rates are undefined). Missing values of an
attribute form their own group ``(missing)``. A numeric attribute with more than
``MAX_GROUPS`` (10) distinct values, such as an age, is cut at its quartiles (``pd.cut`` at
``np.quantile(values, [0, .25, .5, .75, 1])``, fewer groups when quantiles tie), each group
labelled by its range, e.g. ``age=31 to 45``.

The check is recorded in MLflow and on the version by ``models.fairness_log``; the promotion
rule read from those tags is ``models.tags.fairness_status``. Whether the agents starve a group
of users of reward is another question: ``hub_kernel.safety.parity``.

fairlearn and scikit-learn are imported inside the functions that use them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from hub_kernel.exceptions import FairnessError

if TYPE_CHECKING:
    import pandas as pd

CLASSIFICATION_METRICS = ("demographic_parity_difference", "equalized_odds_difference")
REGRESSION_METRICS = ("mean_prediction_difference", "mean_absolute_error_difference")
#: numeric attributes with more distinct values than this are binned at their quartiles
MAX_GROUPS = 10
MISSING_GROUP = "(missing)"

FairnessTask = Literal["auto", "classification", "regression"]


# -- candidate sensitive columns ----------------------------------------------------------------
_SENSITIVE_WORDS = frozenset({
    "sex", "gender", "male", "female", "age", "aged", "dob", "birth", "birthdate", "birthday",
    "yob", "race", "racial", "ethnicity", "ethnic", "ancestry", "caste", "tribe", "skin",
    "religion", "religious", "nationality", "citizenship", "citizen", "immigrant", "immigration",
    "disability", "disabled", "handicap", "marital", "married", "pregnant", "pregnancy",
    "maternity", "sexual", "lgbt", "lgbtq", "veteran",
})
# word parts: "Gender_code" -> gender, code; "applicantAge" -> applicant, age; "AGE2" -> age, 2
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def _words(name: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(name)]


def _looks_sensitive(name: str) -> bool:
    for word in _words(name):
        if word in _SENSITIVE_WORDS or (word.endswith("s") and word[:-1] in _SENSITIVE_WORDS):
            return True
    return False


def sensitive_candidates(frame_or_columns: Any) -> list[str]:
    """Columns whose names look like sensitive attributes (sex, gender, age, race, ethnicity,
    religion, nationality, disability, marital status, pregnancy, ...), in their order.

    Names are split into word parts (``_``, ``-``, spaces, digits, camelCase) and a part must be
    such a word (or its plural): ``Gender_code`` and ``applicant_age`` are candidates, ``page``,
    ``usage``, ``stage`` and ``average`` are not. These are only candidates: a person confirms
    them by declaring them (``sensitive=[...]``, ``--sensitive``).
    """
    columns = getattr(frame_or_columns, "columns", frame_or_columns)
    if isinstance(columns, str):
        columns = [columns]
    return [str(c) for c in columns if _looks_sensitive(str(c))]


# -- the report -----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class FairnessReport:
    """How evenly a model's predictions treat the groups of each declared attribute."""

    task: Literal["classification", "regression"]
    sensitive: tuple[str, ...]
    #: the largest value of each metric over the attributes (NaN: could not be computed)
    metrics: dict[str, float]
    #: each metric per attribute
    by_attribute: dict[str, dict[str, float]]
    #: one row per group: attribute, group, count, judged, then the task's rates or errors
    groups: pd.DataFrame
    threshold: float
    passed: bool
    explanation: str
    worst_group: str | None  # "attribute=group" furthest from the others, e.g. "sex=F"
    worst_metric: str | None
    n_rows: int
    min_group_size: int
    bins: dict[str, list[str]] = field(default_factory=dict)  # binned attributes: group labels
    notes: tuple[str, ...] = ()

    @property
    def decision(self) -> Literal["pass", "fail"]:
        return "pass" if self.passed else "fail"

    def to_frame(self) -> pd.DataFrame:
        """The per-group breakdown (a copy)."""
        return self.groups.copy()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (what ``hub/fairness.json`` holds)."""
        return {
            "task": self.task, "sensitive": list(self.sensitive),
            "metrics": {k: _json_float(v) for k, v in self.metrics.items()},
            "by_attribute": {a: {k: _json_float(v) for k, v in m.items()}
                             for a, m in self.by_attribute.items()},
            "groups": [{k: _json_float(v) if isinstance(v, float) else v for k, v in row.items()}
                       for row in self.groups.to_dict(orient="records")],
            "threshold": self.threshold, "passed": self.passed, "decision": self.decision,
            "explanation": self.explanation, "worst_group": self.worst_group,
            "worst_metric": self.worst_metric, "n_rows": self.n_rows,
            "min_group_size": self.min_group_size, "bins": self.bins, "notes": list(self.notes),
        }


def _json_float(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass
class _Attribute:
    metrics: dict[str, float]
    rows: list[dict[str, Any]]
    judgeable: bool
    worst_group: dict[str, str]  # metric -> group label furthest from the rest
    detail: dict[str, str]  # metric -> what the gap is, in words
    notes: list[str]


def _group_labels(column: pd.Series) -> tuple[pd.Series, list[str] | None]:
    """Group labels as text; a numeric column with many values is cut at its quartiles."""
    import numpy as np
    import pandas as pd

    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    if numeric and column.nunique(dropna=True) > MAX_GROUPS:
        values = pd.to_numeric(column, errors="coerce").astype("float64")
        edges = np.unique(np.quantile(values.dropna(), [0.0, 0.25, 0.5, 0.75, 1.0]))
        labels = [f"{edges[i]:.4g} to {edges[i + 1]:.4g}" for i in range(len(edges) - 1)]
        binned = pd.cut(values, edges, labels=labels, include_lowest=True)
        text = binned.astype(object).where(binned.notna(), MISSING_GROUP).astype(str)
        return pd.Series(text.to_numpy(), index=column.index), labels
    text = column.astype(object).where(column.notna(), MISSING_GROUP).astype(str)
    return pd.Series(text.to_numpy(), index=column.index), None


def _furthest(rates: pd.Series, overall: float) -> str:
    """The group whose value is furthest from ``overall``."""
    return str((rates - overall).abs().idxmax())


def _classification(name: str, y_true: pd.Series, y_pred: pd.Series, groups: pd.Series,
                    min_size: int) -> _Attribute:
    import functools

    import numpy as np
    import pandas as pd
    from fairlearn.metrics import (
        MetricFrame,
        count,
        demographic_parity_difference,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    notes: list[str] = []
    sizes = groups.value_counts()
    judged = sizes[sizes >= min_size].index
    eligible = groups.isin(judged).to_numpy()
    classes = sorted(pd.unique(y_true), key=lambda c: (str(type(c)), str(c)))
    focus = classes[-1:] if len(classes) <= 2 else classes  # binary: the positive class
    best: dict[str, tuple[float, Any]] = {m: (math.nan, None) for m in CLASSIFICATION_METRICS}
    for cls in focus:
        yt = (y_true == cls).to_numpy().astype(int)
        yp = (y_pred == cls).to_numpy().astype(int)
        if len(judged) >= 2:
            dpd = float(demographic_parity_difference(
                yt[eligible], yp[eligible], sensitive_features=groups.to_numpy()[eligible]))
            if not dpd <= best[CLASSIFICATION_METRICS[0]][0]:
                best[CLASSIFICATION_METRICS[0]] = (dpd, cls)
            both = pd.Series(yt).groupby(groups.to_numpy()).agg(lambda s: 0 < s.sum() < len(s))
            odds_groups = [g for g in judged if bool(both.get(g, False))]
            if len(odds_groups) >= 2:
                mask = groups.isin(odds_groups).to_numpy()
                eod = float(equalized_odds_difference(
                    yt[mask], yp[mask], sensitive_features=groups.to_numpy()[mask]))
                if not eod <= best[CLASSIFICATION_METRICS[1]][0]:
                    best[CLASSIFICATION_METRICS[1]] = (eod, cls)
    if len(judged) >= 2 and math.isnan(best[CLASSIFICATION_METRICS[1]][0]):
        notes.append(f"equalized odds for {name} not computed: fewer than two groups hold "
                     "both true classes")
    shown = best[CLASSIFICATION_METRICS[0]][1]
    shown = shown if shown is not None else focus[0]
    yt = (y_true == shown).to_numpy().astype(int)
    yp = (y_pred == shown).to_numpy().astype(int)
    frame = MetricFrame(
        metrics={"count": count, "selection_rate": selection_rate,
                 "true_positive_rate": functools.partial(true_positive_rate, pos_label=1),
                 "false_positive_rate": functools.partial(false_positive_rate, pos_label=1)},
        y_true=yt, y_pred=yp, sensitive_features=groups.to_numpy(),
    ).by_group
    positives = pd.Series(yt).groupby(groups.to_numpy()).sum()
    negatives = pd.Series(1 - yt).groupby(groups.to_numpy()).sum()
    accuracy = pd.Series((y_true.to_numpy() == y_pred.to_numpy()).astype(float)).groupby(
        groups.to_numpy()).mean()
    rows = []
    for group in frame.index:
        rows.append({
            "attribute": name, "group": str(group), "count": int(frame.loc[group, "count"]),
            "judged": bool(group in judged), "class": _plain(shown),
            "accuracy": float(accuracy[group]),
            "selection_rate": float(frame.loc[group, "selection_rate"]),
            "true_positive_rate": float(frame.loc[group, "true_positive_rate"])
            if positives[group] > 0 else math.nan,
            "false_positive_rate": float(frame.loc[group, "false_positive_rate"])
            if negatives[group] > 0 else math.nan,
        })
    table = pd.DataFrame(rows).set_index("group")
    judged_rows = table[table["judged"]]
    worst: dict[str, str] = {}
    detail: dict[str, str] = {}
    if len(judged_rows) >= 2:
        rates = judged_rows["selection_rate"]
        worst[CLASSIFICATION_METRICS[0]] = _furthest(rates, float(np.mean(yp[eligible])))
        low, high = rates.idxmin(), rates.idxmax()
        detail[CLASSIFICATION_METRICS[0]] = (
            f"predicted {_plain(shown)!r} for {rates[low]:.0%} of {name}={low} rows but "
            f"{rates[high]:.0%} of {name}={high} rows")
        eod_class = best[CLASSIFICATION_METRICS[1]][1]
        if eod_class is not None:
            worst[CLASSIFICATION_METRICS[1]], detail[CLASSIFICATION_METRICS[1]] = _odds_detail(
                name, y_true, y_pred, groups, judged, eod_class)
    metrics = {m: best[m][0] for m in CLASSIFICATION_METRICS}
    return _Attribute(metrics, rows, len(judged) >= 2, worst, detail, notes)


def _odds_detail(name: str, y_true: pd.Series, y_pred: pd.Series, groups: pd.Series,
                 judged: Iterable[Any], cls: Any) -> tuple[str, str]:
    """The group and rate behind the equalized odds difference for class ``cls``."""
    import pandas as pd

    yt = pd.Series((y_true == cls).to_numpy().astype(int))
    yp = pd.Series((y_pred == cls).to_numpy().astype(int))
    keys = groups.to_numpy()
    tpr = yp[yt == 1].groupby(keys[(yt == 1).to_numpy()]).mean()
    fpr = yp[yt == 0].groupby(keys[(yt == 0).to_numpy()]).mean()
    judged = [g for g in judged if g in tpr.index and g in fpr.index]
    tpr, fpr = tpr[judged], fpr[judged]
    gaps = {"true-positive": (tpr, tpr.max() - tpr.min()),
            "false-positive": (fpr, fpr.max() - fpr.min())}
    kind, (rates, _) = max(gaps.items(), key=lambda item: item[1][1])
    overall = float((yp[yt == (1 if kind == "true-positive" else 0)]).mean())
    low, high = rates.idxmin(), rates.idxmax()
    return _furthest(rates, overall), (
        f"{kind} rate for {_plain(cls)!r} is {rates[low]:.0%} for {name}={low} but "
        f"{rates[high]:.0%} for {name}={high}")


def _regression(name: str, y_true: pd.Series, y_pred: pd.Series, groups: pd.Series,
                min_size: int) -> _Attribute:
    import numpy as np
    from fairlearn.metrics import MetricFrame, count
    from sklearn.metrics import mean_absolute_error

    notes: list[str] = []
    truth = y_true.to_numpy(dtype="float64")
    predicted = y_pred.to_numpy(dtype="float64")
    scale = float(np.std(truth))
    if not (math.isfinite(scale) and scale > 0):
        notes.append("the target is constant: group gaps are not standardized")
        scale = 1.0
    frame = MetricFrame(
        metrics={"count": count,
                 "mean_target": lambda t, p: float(np.mean(t)),
                 "mean_prediction": lambda t, p: float(np.mean(p)),
                 "mean_absolute_error": mean_absolute_error},
        y_true=truth, y_pred=predicted, sensitive_features=groups.to_numpy(),
    ).by_group
    frame["count"] = frame["count"].astype(int)
    frame["judged"] = frame["count"] >= min_size
    judged = frame[frame["judged"]]
    metrics = dict.fromkeys(REGRESSION_METRICS, math.nan)
    worst: dict[str, str] = {}
    detail: dict[str, str] = {}
    if len(judged) >= 2:
        for metric, column, what in (
            (REGRESSION_METRICS[0], "mean_prediction", "mean prediction"),
            (REGRESSION_METRICS[1], "mean_absolute_error", "mean absolute error"),
        ):
            values = judged[column].astype(float)
            metrics[metric] = float((values.max() - values.min()) / scale)
            low, high = values.idxmin(), values.idxmax()
            overall = float(np.mean(predicted)) if column == "mean_prediction" else float(
                np.mean(np.abs(truth - predicted)))
            worst[metric] = (str(high) if column == "mean_absolute_error"
                             else _furthest(values, overall))
            detail[metric] = (f"{what} is {values[low]:.4g} for {name}={low} but "
                              f"{values[high]:.4g} for {name}={high} (target std {scale:.4g})")
    rows = [{"attribute": name, "group": str(group), "count": int(row["count"]),
             "judged": bool(row["judged"]), "mean_target": float(row["mean_target"]),
             "mean_prediction": float(row["mean_prediction"]),
             "mean_absolute_error": float(row["mean_absolute_error"])}
            for group, row in frame.iterrows()]
    return _Attribute(metrics, rows, len(judged) >= 2, worst, detail, notes)


def _plain(value: Any) -> Any:
    """A numpy scalar as a plain Python value (for JSON and messages)."""
    return value.item() if hasattr(value, "item") else value


def _resolve_task(model: Any, y: Any, task: FairnessTask
                  ) -> Literal["classification", "regression"]:
    if task in ("classification", "regression"):
        return task
    if task != "auto":
        raise FairnessError(f"unknown task {task!r}: use 'auto', 'classification' or "
                            "'regression'")
    from hub_kernel.models.features import estimator_task, infer_task

    return (estimator_task(model) if model is not None else None) or infer_task(y)


def fairness_report(model: Any, X: pd.DataFrame, y: Any, sensitive: Sequence[str], *,
                    task: FairnessTask = "auto", threshold: float | None = None,
                    min_group_size: int | None = None) -> FairnessReport:
    """Predict ``X`` with ``model`` and judge the predictions across the groups of each
    ``sensitive`` column of ``X`` (see the module docstring for the metrics and the rule).

    ``task`` "auto" asks the model (scikit-learn tags), else looks at ``y``. ``threshold``
    defaults to ``HUB_FAIRNESS_THRESHOLD`` and ``min_group_size`` to
    ``HUB_FAIRNESS_MIN_GROUP_SIZE``. The sensitive columns stay in ``X``: the model is given
    the rows as they are (whether it uses those columns is its own business).
    """
    import pandas as pd

    if not isinstance(X, pd.DataFrame):
        raise FairnessError("X must be a DataFrame holding the sensitive columns")
    _check_columns(X, sensitive)
    try:
        predicted = model.predict(X)
    except Exception as exc:
        detail = " ".join(str(exc).split())[:300]  # one line
        raise FairnessError(
            f"the model cannot predict these rows ({type(exc).__name__}: {detail}); give it the "
            "columns it was trained on") from exc
    return fairness_report_from_predictions(
        y, predicted, X[list(dict.fromkeys(sensitive))],
        task=_resolve_task(model, y, task), threshold=threshold, min_group_size=min_group_size,
    )


def _check_columns(X: pd.DataFrame, sensitive: Sequence[str]) -> None:
    if isinstance(sensitive, str):
        raise FairnessError(f"sensitive must be a list of column names, not the text "
                            f"{sensitive!r}: pass [{sensitive!r}]")
    if not sensitive:
        raise FairnessError("no sensitive columns given: name at least one (e.g. ['sex'])")
    missing = [c for c in sensitive if c not in X.columns]
    if missing:
        candidates = sensitive_candidates(X)
        hint = f"; possible sensitive columns: {', '.join(candidates)}" if candidates else ""
        raise FairnessError(f"sensitive column(s) {', '.join(map(repr, missing))} not in the "
                            f"data{hint}")


def fairness_report_from_predictions(
    y_true: Any, y_pred: Any, sensitive: pd.DataFrame | pd.Series, *,
    task: FairnessTask = "auto", threshold: float | None = None,
    min_group_size: int | None = None,
) -> FairnessReport:
    """``fairness_report`` on predictions already made (e.g. cross-validated ones): rows of
    ``y_true``, ``y_pred`` and ``sensitive`` (one column per attribute) are aligned by
    position."""
    import numpy as np
    import pandas as pd

    from hub_kernel.core.config import get_settings

    settings = get_settings()
    threshold = settings.fairness_threshold if threshold is None else float(threshold)
    if not 0 < threshold <= 1:
        raise FairnessError(f"fairness threshold must be in (0, 1], not {threshold}")
    min_size = settings.fairness_min_group_size if min_group_size is None else int(min_group_size)
    frame = sensitive.to_frame() if isinstance(sensitive, pd.Series) else sensitive
    frame = frame.reset_index(drop=True)
    truth = pd.Series(np.asarray(y_true))
    predicted = pd.Series(np.asarray(y_pred))
    if not (len(truth) == len(predicted) == len(frame)):
        raise FairnessError(f"y has {len(truth)} rows, the predictions {len(predicted)} and the "
                            f"sensitive columns {len(frame)}: they must match")
    labelled = truth.notna().to_numpy() & predicted.notna().to_numpy()
    if not labelled.any():
        raise FairnessError("no labelled rows to judge fairness on")
    truth = truth[labelled].reset_index(drop=True)
    predicted = predicted[labelled].reset_index(drop=True)
    frame = frame[labelled].reset_index(drop=True)
    resolved = _resolve_task(None, truth.to_numpy(), task)
    if resolved == "classification":  # labels as plain values: 1 == 1.0 == np.int64(1)
        truth = pd.Series([_plain(v) for v in truth], dtype=object)
        predicted = pd.Series([_plain(v) for v in predicted], dtype=object)
    notes: list[str] = []
    bins: dict[str, list[str]] = {}
    results: dict[str, _Attribute] = {}
    for column in frame.columns:
        name = str(column)
        groups, labels = _group_labels(frame[column])
        if labels is not None:
            bins[name] = labels
            notes.append(f"{name} has many values: grouped at its quartiles "
                         f"({', '.join(labels)})")
        judge = _classification if resolved == "classification" else _regression
        results[name] = judge(name, truth, predicted, groups, min_size)
        notes.extend(results[name].notes)
        small = [r["group"] for r in results[name].rows if not r["judged"]]
        if small:
            notes.append(f"{name}: group(s) {', '.join(small)} have fewer than {min_size} rows "
                         "and are not judged; collect more rows to judge them")
    return _assemble(resolved, results, threshold, min_size, len(truth), bins, notes)


def _assemble(task: Literal["classification", "regression"], results: dict[str, _Attribute],
              threshold: float, min_size: int, n_rows: int, bins: dict[str, list[str]],
              notes: list[str]) -> FairnessReport:
    import pandas as pd

    names = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
    by_attribute = {a: dict(r.metrics) for a, r in results.items()}
    metrics = {}
    for metric in names:
        values = [r.metrics[metric] for r in results.values() if not math.isnan(r.metrics[metric])]
        metrics[metric] = max(values) if values else math.nan
    unjudged = [a for a, r in results.items() if not r.judgeable]
    # the worst finding: the largest metric relative to the threshold, over attributes
    worst: tuple[float, str, str] | None = None
    for attribute, result in results.items():
        for metric in names:
            value = result.metrics[metric]
            if not math.isnan(value) and (worst is None or value > worst[0]):
                worst = (value, attribute, metric)
    failing = sorted(((r.metrics[m], a, m) for a, r in results.items() for m in names
                      if not math.isnan(r.metrics[m]) and r.metrics[m] > threshold), reverse=True)
    passed = not unjudged and not failing
    worst_group = worst_metric = None
    if worst is not None:
        _, attribute, worst_metric = worst
        group = results[attribute].worst_group.get(worst_metric)
        worst_group = f"{attribute}={group}" if group is not None else None
    attributes = ", ".join(results)
    words = {m: m.replace("_", " ") for m in names}
    if failing:
        value, attribute, metric = failing[0]
        explanation = (
            f"unfair across {attribute}: {results[attribute].detail.get(metric, '')} "
            f"({words[metric]} {value:.2f} > {threshold:.2f}); the group furthest from the rest "
            f"is {worst_group}")
        others = [f"{a} ({words[m]} {v:.2f})" for v, a, m in failing[1:]]
        if others:
            explanation += f"; also over the threshold: {', '.join(others)}"
    elif unjudged:
        explanation = (
            f"cannot judge fairness across {', '.join(unjudged)}: fewer than two groups have "
            f"at least {min_size} rows; bring more rows of each group (or a person overrides)")
    else:
        shown = ", ".join(f"{words[m]} {metrics[m]:.2f}" for m in names
                          if not math.isnan(metrics[m]))
        explanation = f"fair across {attributes}: {shown}, all within {threshold:.2f}"
        if worst_group:
            explanation += f"; the group furthest from the rest is {worst_group}"
    rows = [row for r in results.values() for row in r.rows]
    groups = pd.DataFrame(rows) if rows else pd.DataFrame(columns=["attribute", "group"])
    return FairnessReport(
        task=task, sensitive=tuple(results), metrics=metrics, by_attribute=by_attribute,
        groups=groups, threshold=threshold, passed=passed, explanation=explanation,
        worst_group=worst_group, worst_metric=worst_metric, n_rows=n_rows,
        min_group_size=min_size, bins=bins, notes=tuple(notes),
    )
