"""Sentences per topic, written from analysis results, the model registry and drift.

Each ``*_sentences`` function reads computed values (``AnalysisResult`` facts, a ``ModelInfo``,
a ``DriftReport``) and writes sentences through a ``SentenceBuilder``, so every number it writes
is a fact with a key. A value the analyses do not state as a fact (a registry metric, a drift
share) becomes a fact here first (``plain_fact``), under a key of its own.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from hub_kernel.analyses.base import AnalysisResult, Fact
from hub_kernel.reports.narrative import DIGIT, Name, Part, Sentence, SentenceBuilder, plain_fact

logger = logging.getLogger("hub_kernel")

Results = Mapping[str, AnalysisResult]


def _fact(result: AnalysisResult | None, key: str) -> Fact | None:
    if result is None:
        return None
    try:
        return result.fact(key)
    except KeyError:
        return None


def _named(text: str, names: tuple[str, ...]) -> list[Part]:
    """``text`` as parts, the data names in it (those holding a digit) as name parts, so a
    reader's check of the numbers leaves them out."""
    digits = sorted({n for n in names if n and DIGIT.search(n) and n in text}, key=len,
                    reverse=True)
    if not digits:
        return [Part("text", text)]
    pieces = re.split("(" + "|".join(re.escape(n) for n in digits) + ")", text)
    return [Part("name" if piece in digits else "text", piece) for piece in pieces if piece]


def from_fact(b: SentenceBuilder, fact: Fact, topic: str, weight: float = 0.3,
              names: tuple[str, ...] = ()) -> Sentence | None:
    """An analysis's own sentence for ``fact``, with its number traced to the fact.

    Used only when the text shows the value exactly once and no other number outside data
    ``names``; otherwise None (the fact stays in the tables).
    """
    text = fact.text
    if isinstance(fact.value, str) or fact.value is None:
        shown = "n/a" if fact.value is None else fact.value
        if text.count(shown) != 1:
            return None
        before, after = text.split(shown, 1)
        rest = before + " " + after
        for name in sorted(names, key=len, reverse=True):
            rest = rest.replace(name, " ")
        if DIGIT.search(rest):
            return None
        b.facts[fact.key] = fact
        return Sentence(topic, (*_named(before, names),
                                Part("name", shown, fact.key, fact.value),
                                *_named(after, names)), weight)
    shown = fact.formatted
    if text.count(shown) != 1:
        return None
    before, after = text.split(shown, 1)
    if fact.unit == "%" and after.startswith("%"):
        shown, after = shown + "%", after[1:]
    elif fact.unit and after.startswith(" " + fact.unit):
        shown, after = f"{shown} {fact.unit}", after[len(fact.unit) + 1:]
    rest = before + " " + after
    for name in sorted(names, key=len, reverse=True):
        rest = rest.replace(name, " ")
    if DIGIT.search(rest):
        return None
    b.facts[fact.key] = fact
    return Sentence(topic, (*_named(before, names), Part("number", shown, fact.key, fact.value),
                            *_named(after, names)), weight)


def fact_sentences(b: SentenceBuilder, result: AnalysisResult | None, topic: str,
                   names: tuple[str, ...], *, weight: float = 0.3, limit: int | None = None,
                   skip: tuple[str, ...] = ()) -> list[Sentence]:
    """The analysis's own fact sentences (see ``from_fact``), in its order."""
    if result is None:
        return []
    out = []
    for fact in result.facts:
        if any(fact.key.startswith(s) for s in skip):
            continue
        sentence = from_fact(b, fact, topic, weight, names)
        if sentence is not None:
            out.append(sentence)
        if limit is not None and len(out) >= limit:
            break
    return out


# -- topics ----------------------------------------------------------------------------------
def overview_sentences(b: SentenceBuilder, results: Results, dataset: str) -> list[Sentence]:
    summary = results.get("summary")
    rows, cols = _fact(summary, "rows"), _fact(summary, "columns")
    out: list[Sentence] = []
    if rows and cols:
        out.append(b.say("summary", "The {dataset} data has {rows} rows and {cols} columns.",
                         0.4, dataset=Name(dataset), rows=rows, cols=cols))
    if summary is not None:
        for fact in summary.facts:
            if fact.key.startswith("span."):
                column = fact.key[len("span."):]
                first, last = _fact(summary, f"first.{column}"), _fact(summary, f"last.{column}")
                if first and last:
                    out.append(b.say("summary", "It covers {span}, from {first} to {last}.",
                                     0.35, span=fact, first=first, last=last))
                break
    return out


def trend_sentences(b: SentenceBuilder, results: Results) -> list[Sentence]:
    """Significant trends (strongest first) and clear seasonal cycles."""
    trend = results.get("trend")
    if trend is None or trend.table is None or trend.table.empty:
        return []
    table = trend.table.sort_values("p_value", kind="stable")
    out: list[Sentence] = []
    alpha = float(trend.data.get("alpha", 0.05))
    for row in table.itertuples(index=False):
        column = str(row.column)
        slope = _fact(trend, f"trend.{column}.slope")
        p_value = _fact(trend, f"trend.{column}.p_value")
        change = _fact(trend, f"trend.{column}.change")
        if not (slope and p_value and change):
            continue
        significant = float(getattr(row, "p_adjusted", row.p_value)) < alpha
        if significant:
            out.append(b.say(
                "trend", "{column} is {moving}: over the whole period its fitted trend changes "
                "it by {change} ({slope}, p-value {p}).",
                0.9 - 0.05 * len(out),
                column=Name(column), moving="rising" if float(row.slope) > 0 else "falling",
                change=change, slope=slope, p=p_value))
        else:
            out.append(b.say("trend", "{column} shows no significant trend (p-value {p}).",
                             0.2, column=Name(column), p=p_value))
        period = _fact(trend, f"seasonality.{column}.period")
        strength = _fact(trend, f"seasonality.{column}.strength")
        peak = _fact(trend, f"seasonality.{column}.peak")
        if period and strength and peak:
            out.append(b.say(
                "trend", "{column} follows a cycle of {period} that explains {strength} of its "
                "variation around the trend; it peaks at {peak}.",
                0.6 + min(float(strength.value or 0), 100) / 400,
                column=Name(column), period=period, strength=strength, peak=peak))
    return out


def difference_sentences(b: SentenceBuilder, results: Results) -> list[Sentence]:
    """The largest difference between segments."""
    seg = results.get("segments")
    keys = ("segments.by", "segments.value", "segments.top_segment", "segments.top_mean",
            "segments.bottom_segment", "segments.bottom_mean", "segments.difference",
            "segments.p_value", "segments.effect_size")
    facts = [_fact(seg, k) for k in keys]
    if seg is None or any(f is None for f in facts):
        return []
    by, value, top, top_mean, bottom, bottom_mean, diff, p, eta = facts
    assert p is not None and p.value is not None
    significant = float(p.value) < 0.05
    out = [b.say(
        "difference", "The largest difference is in {value} across {by}: {top} averages "
        "{top_mean} against {bottom_mean} for {bottom}, a gap of {diff}.",
        0.85 if significant else 0.4, value=value, by=by, top=top, top_mean=top_mean,
        bottom=bottom, bottom_mean=bottom_mean, diff=diff)]
    out.append(b.say(
        "difference", "{by} accounts for {eta} of the variance of {value}; the difference is "
        "{sig} (p-value {p}).", 0.5 if significant else 0.25, by=by, eta=eta, value=value,
        sig="statistically significant" if significant else "not statistically significant",
        p=p))
    return out


def predictor_sentences(b: SentenceBuilder, results: Results, names: tuple[str, ...]
                        ) -> list[Sentence]:
    """The strongest predictors of the target (feature importance), else correlations."""
    out: list[Sentence] = []
    importance = results.get("feature_importance")
    top, top_feature = _fact(importance, "importance.top"), _fact(importance,
                                                                   "importance.top_feature")
    if importance is not None and top is not None and top_feature is not None:
        target = str(importance.data.get("target", "the target"))
        scoring = str(importance.data.get("scoring", "score"))
        out.append(b.say(
            "predictor", "{feature} matters most for predicting {target}: shuffling it lowers "
            "the model's {scoring} by {top}.", 0.8, feature=top_feature, target=Name(target),
            scoring=Name(scoring), top=top))
        others = [f for f in importance.facts if f.key.startswith("importance.")
                  and f.key not in ("importance.top", "importance.top_feature",
                                    "importance.holdout_score", "importance.n_negligible")]
        for i, fact in enumerate(others[:3]):
            feature = fact.key[len("importance."):]
            out.append(b.say("predictor", "Next comes {feature}: shuffling it lowers the "
                             "{scoring} by {value}.", 0.55 - 0.1 * i, feature=Name(feature),
                             scoring=Name(scoring), value=fact))
        holdout = _fact(importance, "importance.holdout_score")
        if holdout is not None:
            out.append(b.say("predictor", "The model behind these rankings scores {score} "
                             "({scoring}) on held-out rows.", 0.3, score=holdout,
                             scoring=Name(scoring)))
    corr = results.get("correlations")
    strongest = _fact(corr, "corr.strongest")
    pair = corr.data.get("strongest") if corr is not None else None
    if corr is not None and strongest is not None and pair:
        r = float(strongest.value or 0.0)
        out.append(b.say(
            "predictor", "The strongest correlation is between {a} and {b}: they move "
            "{together} (r = {r}).", 0.7 if abs(r) >= 0.5 else 0.3, a=Name(str(pair[0])),
            b=Name(str(pair[1])), together="together" if r > 0 else "in opposite directions",
            r=strongest))
    return out


def quality_sentences(b: SentenceBuilder, results: Results, names: tuple[str, ...]
                      ) -> list[Sentence]:
    """Missing values and outliers, as caveats on the findings."""
    out: list[Sentence] = []
    miss = results.get("missingness")
    cells = _fact(miss, "missing.cells")
    if cells is not None:
        columns = _fact(miss, "missing.columns")
        if columns is not None:
            noun = "column" if columns.value == 1 else "columns"
            out.append(b.say("quality", "{cells} of all values are missing, spread over "
                             "{columns} " + noun + ".",
                             0.3 + min(float(cells.value or 0), 50) / 100, cells=cells,
                             columns=columns))
    elif "missingness" not in results and results.get("summary") is not None:
        out.append(b.say("quality", "No value is missing.", 0.1))
    outliers = results.get("outliers")
    total = _fact(outliers, "outliers.total")
    if outliers is not None and total is not None:
        sentence = from_fact(b, total, "quality", 0.35, names)
        if sentence:
            out.append(sentence)
        out += fact_sentences(b, outliers, "quality", names, weight=0.2, limit=3,
                              skip=("outliers.total",))
    return out


def model_sentences(b: SentenceBuilder, results: Results, info: Any | None,
                    names: tuple[str, ...]) -> list[Sentence]:
    """Model quality: the registered champion's metrics, and the model the analyses fit."""
    out: list[Sentence] = []
    if info is not None:
        out += registry_sentences(b, info)
    model = results.get("supervised_model")
    keys = ("model.best_family", "model.best_score", "model.baseline_score", "model.gain")
    facts = [_fact(model, k) for k in keys]
    if model is not None and all(f is not None for f in facts):
        family, score, baseline, gain = facts
        assert family is not None and gain is not None
        task = model.data.get("task")
        what = "most common class" if task == "classification" else "mean"
        good = float(gain.value or 0) > 0 and model.data.get("beats_baseline", True)
        b.facts[family.key] = family
        if not model.data.get("beats_baseline", True):
            out.append(b.say(
                "model", "No model predicts {target} better than always predicting the {what} "
                "({metric} {baseline}); the closest, a {family} model, scores {score}.", 0.6,
                family=Name(family_title(str(family.value))),
                target=Name(str(model.data.get("target"))),
                metric=Name(str(model.data.get("metric"))), score=score, baseline=baseline,
                what=what))
            return out
        out.append(b.say(
            "model", "A {family} model predicts {target} with a cross-validated {metric} of "
            "{score}, against {baseline} for always predicting the {what}: a gain of {gain}.",
            0.75 if good else 0.5, family=Name(family_title(str(family.value))),
            target=Name(str(model.data.get("target"))),
            metric=Name(str(model.data.get("metric"))), score=score, baseline=baseline,
            what=what, gain=gain))
    return out


def family_title(family: str) -> str:
    """A model family in words (``hgb`` -> histogram gradient boosting)."""
    try:
        from hub_kernel.automl.space import FAMILIES
    except ImportError:  # pragma: no cover - the strategy agent is part of hub
        return family
    return FAMILIES[family].title if family in FAMILIES else family


def validation_sentences(b: SentenceBuilder, results: Results, names: tuple[str, ...]
                         ) -> list[Sentence]:
    """How the model was validated: the task, the spread of its cross-validated score, the
    configurations compared, and the held-out score of the importance model."""
    out: list[Sentence] = []
    model = results.get("supervised_model")
    task = _fact(model, "model.task")
    if model is not None and task is not None:
        sentence = from_fact(b, task, "model", 0.3, names)
        if sentence is not None:
            out.append(sentence)
        best = model.data.get("best") or {}
        score, std = _fact(model, "model.best_score"), best.get("std")
        if score is not None and isinstance(std, int | float):
            spread = plain_fact("model.best_std", float(std))
            out.append(b.say("model", "Its cross-validated {metric} is {score}, with a standard "
                             "deviation of {std} across the folds.", 0.4,
                             metric=Name(str(model.data.get("metric"))), score=score,
                             std=spread))
        evaluations = _fact(model, "model.n_evaluations")
        if evaluations is not None and evaluations.value != 1:
            out.append(b.say("model", "The search compared {n} configurations.", 0.2,
                             n=evaluations))
    importance = results.get("feature_importance")
    holdout = _fact(importance, "importance.holdout_score")
    if importance is not None and holdout is not None:
        out.append(b.say("model", "A model fit on three quarters of the rows scores {score} "
                         "({scoring}) on the quarter held out.", 0.35, score=holdout,
                         scoring=Name(str(importance.data.get("scoring", "score")))))
    return out


def registry_sentences(b: SentenceBuilder, info: Any) -> list[Sentence]:
    """The champion version of a registered model and its primary metric."""
    out: list[Sentence] = []
    champion = info.champion
    if champion is None:
        return [b.say("model", "The model {name} has no champion version yet.", 0.5,
                      name=Name(info.name))]
    version = info.version(champion)
    metric = version.primary_metric or info.primary_metric
    number = plain_fact("model.champion", champion)
    if metric and version.metrics.get(metric) is not None:
        score = plain_fact(f"model.{metric}", version.metrics[metric])
        out.append(b.say("model", "The champion model {name} (version {v}) scores {metric} = "
                         "{score} in cross-validation.", 0.75, name=Name(info.name), v=number,
                         metric=Name(metric), score=score))
    else:
        out.append(b.say("model", "The champion model is {name}, version {v}.", 0.5,
                         name=Name(info.name), v=number))
    versions = plain_fact("model.versions", len(info.versions))
    out.append(b.say("model", "Registered versions of the model: {n}.", 0.2, n=versions))
    return out


def validation_rows(info: Any) -> list[dict[str, Any]]:
    """One row per registered version with its cross-validated metrics (a table)."""
    rows = []
    for v in info.versions:
        rows.append({"version": v.version, "aliases": ", ".join(v.aliases),
                     "created": v.created, "task": v.task, "target": v.target,
                     **{k: v.metrics[k] for k in sorted(v.metrics)}})
    return rows


def drift_sentences(b: SentenceBuilder, report: Any, how: str) -> list[Sentence]:
    """Whether the data drifted between the two halves compared (``how`` says which)."""
    n = plain_fact("drift.features", len(report.features))
    drifted = plain_fact("drift.drifted", len(report.drifted_features))
    share = plain_fact("drift.share", 100 * float(report.drift_share), "%")
    out = [b.say("drift", "Between {how}, {drifted} of {n} features drifted ({share}); "
                 "{verdict}.", 0.8 if report.data_drifted else 0.3, how=how, drifted=drifted,
                 n=n, share=share,
                 verdict="a retrain is recommended" if report.should_retrain
                 else "no retrain is needed")]
    worst = max(report.features, key=lambda f: f.psi, default=None)
    if worst is not None:
        psi = plain_fact(f"drift.{worst.feature}.psi", float(worst.psi))
        p = plain_fact(f"drift.{worst.feature}.p_value", float(worst.p_value),
                       style="p_value")
        out.append(b.say("drift", "{feature} shifted most (PSI {psi}, p-value {p}).",
                         0.6 if worst.drifted else 0.2, feature=Name(worst.feature), psi=psi,
                         p=p))
    return out


def fairness_sentences(b: SentenceBuilder, info: Any | None) -> tuple[list[Sentence], list[str]]:
    """The fairness status of the champion version (from the registry's tags), and, as a
    note, why it may not be promoted (the registry's words, which may hold numbers)."""
    if info is None:
        return [], []
    from hub_kernel.models.tags import fairness_status

    if info.champion is None:
        return [b.say("fairness", "No champion version has been checked for fairness.", 0.3)], []
    version = info.version(info.champion)
    status, block = fairness_status(info.tags, version.tags)
    if DIGIT.search(status):
        status = "see the note below"
    sentence = b.say("fairness", "Fairness of the champion: {status}.",
                     0.7 if block else 0.4, status=status)
    return [sentence], ([f"It may not be promoted: {block}."] if block else [])


def clustering_sentences(b: SentenceBuilder, results: Results) -> list[Sentence]:
    clusters = results.get("clustering")
    k, silhouette = _fact(clusters, "clusters.k"), _fact(clusters, "clusters.silhouette")
    if k is None or silhouette is None:
        return []
    return [b.say("cluster", "The rows fall into {k} clusters (silhouette {s}).",
                  0.3 + max(float(silhouette.value or 0), 0) / 2, k=k, s=silhouette)]
