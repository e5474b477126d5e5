"""Analyses given a target: feature importance, and a supervised model.

Feature importance fits hub's default pipeline (histogram gradient boosting on the trainer's
preprocessing) on three quarters of the rows and measures the permutation importance of each
column on the held-out quarter (``hub_kernel.models.explain``). The supervised model asks a
pipeline search (``hub_kernel.automl``) for the best model within a time budget: the
``searcher`` it is given (the strategy agent passes its own ``search``), else one warm-started
from the default meta-knowledge store (or, with ``search=False``, it cross-validates the
default pipeline).

scikit-learn is imported inside the functions that use it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hub_kernel.analyses.base import Analysis, AnalysisResult, Fact, format_number
from hub_kernel.analyses.findings import comparison, monotone_twins

if TYPE_CHECKING:
    from hub_kernel.automl.results import SearchResult
    from hub_kernel.data.profile import DatasetProfile
    from hub_kernel.models.leakage import LeakReport

logger = logging.getLogger("hub_kernel")

NEGLIGIBLE = 0.005
#: folds assumed when testing a cross-validated gain (the fewest the search uses: a
#: conservative test)
MIN_FOLDS = 3


def _t_p_value(mean: float, std: float, n: int) -> float | None:
    """One-sided p-value that a mean over ``n`` repeats (std ``std``) is above 0."""
    from scipy import stats

    if n < 2:
        return None
    if std <= 0:
        return 0.0 if mean > 0 else 1.0
    return float(stats.t.sf(mean / (std / np.sqrt(n - 1)), n - 1))


def _effect(gain: float, baseline: float, metric: str) -> float:
    """A gain over the baseline as the square root of the share of the possible gain it
    makes (metrics reach 1 at best, or 0 for the ``neg_`` errors)."""
    best = 0.0 if metric.startswith("neg_") else 1.0
    room = best - baseline
    return float(np.sqrt(min(max(gain / room, 0.0), 1.0))) if room > 0 else 0.0


class FeatureImportance(Analysis):
    """Which columns a model relies on to predict the target (permutation importance)."""

    name = "feature_importance"
    title = "Feature importance"
    requirement = "a target column and at least one other column"
    needs_target = True

    def applies(self, profile: DatasetProfile, target: str | None = None) -> bool:
        return target is not None and profile.n_columns >= 2 and profile.n_rows >= 10

    def _run(self, frame: pd.DataFrame, profile: DatasetProfile, *, target: str | None = None,
             max_rows: int = 5000, n_repeats: int = 5, random_state: int = 0,
             top: int = 5, metric: str | None = None, keep_columns: Sequence[str] = (),
             leaks: LeakReport | None = None) -> AnalysisResult:
        from sklearn.dummy import DummyClassifier, DummyRegressor
        from sklearn.metrics import get_scorer
        from sklearn.model_selection import train_test_split
        from threadpoolctl import threadpool_limits

        from hub_kernel.models.explain import permutation_importance_report
        from hub_kernel.models.features import build_pipeline, default_estimator, prepare_xy
        from hub_kernel.models.leakage import find_leaks
        from hub_kernel.models.metrics import baseline_words, check_metric, default_metric

        assert target is not None
        if leaks is None or leaks.target != target:
            leaks = find_leaks(frame, target, keep=keep_columns, seed=random_state)
        frame = frame.drop(columns=list(leaks.excluded))
        prepared = prepare_xy(frame, target, "auto", None, 2)
        X, y = prepared.X, np.asarray(prepared.y)
        n_classes = len(np.unique(y)) if prepared.task == "classification" else None
        what = check_metric(metric, prepared.task, n_classes) if metric else default_metric(
            y, prepared.task)
        caveats: list[str] = leaks.caveats()
        if len(X) > max_rows:
            rows = np.random.default_rng(random_state).choice(len(X), max_rows, replace=False)
            X, y = X.iloc[np.sort(rows)], y[np.sort(rows)]
            caveats.append(f"measured on a random sample of {max_rows} rows")
        stratify = y if prepared.task == "classification" and pd.Series(y).value_counts(
        ).min() >= 2 else None
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.25, random_state=random_state, stratify=stratify)
        model = build_pipeline(prepared.plan, default_estimator(prepared.task, random_state))
        # boosting's OpenMP threads cost more than they give on small data and busy cores
        threads = None if X.size >= 200_000 else 1
        with threadpool_limits(limits=threads, user_api="openmp"):
            model.fit(X_train, y_train)
            report = permutation_importance_report(model, X_test, y_test, n_repeats=n_repeats,
                                                   random_state=random_state, max_rows=None,
                                                   scoring=what)
            scorer = get_scorer(what)
            holdout = float(scorer(model, X_test, y_test))
        dummy = (DummyClassifier(strategy="most_frequent") if prepared.task == "classification"
                 else DummyRegressor()).fit(X_train, y_train)
        trivial = float(scorer(dummy, X_test, y_test))
        facts = [
            Fact("importance.holdout_score", f"A model predicting {target} scores "
                 f"{format_number(holdout)} {what} on held-out rows.", holdout),
            Fact("importance.baseline_score", f"{baseline_words(prepared.task).capitalize()} "
                 f"scores {format_number(trivial)} there.", trivial),
        ]
        items = list(report.importances)
        if items:
            first = items[0]
            facts += [
                Fact("importance.top_feature", f"{first.feature} matters most for predicting "
                     f"{target}.", first.feature),
                Fact("importance.top", f"Shuffling {first.feature} lowers the {what} by "
                     f"{format_number(first.mean)}.", first.mean),
            ]
            for item in items[1:top]:
                if item.mean >= NEGLIGIBLE:
                    facts.append(Fact(f"importance.{item.feature}", f"Shuffling {item.feature}"
                                      f" lowers the {what} by {format_number(item.mean)}.",
                                      item.mean))
            idle = sum(1 for i in items if i.mean < NEGLIGIBLE)
            facts.append(Fact("importance.n_negligible", f"{format_number(idle)} columns barely"
                              " matter to the model.", idle))
        # a test per column: the drop across shuffles of the held-out rows (this measures the
        # model's reliance on the column, not sampling error: a lenient test)
        tests = []
        for i, item in enumerate(items):
            keys = (["importance.top_feature", "importance.top"] if i == 0 else
                    [f"importance.{item.feature}"] if i < top and item.mean >= NEGLIGIBLE
                    else [])
            tests.append(comparison(
                p_value=_t_p_value(item.mean, item.std, n_repeats),
                effect=float(np.sqrt(min(max(item.mean, 0.0), 1.0))),
                measure=f"square root of the drop in {what}", columns=(item.feature, target),
                facts=keys))
        excluded = []
        numeric = [c for c in frame.columns if c != target and pd.api.types.is_numeric_dtype(
            frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]
        if numeric and pd.api.types.is_numeric_dtype(frame[target]):
            rows_ = frame if len(frame) <= max_rows else frame.sample(
                max_rows, random_state=random_state)
            for a, b in monotone_twins(rows_, [target, *numeric]):
                if target in (a, b):
                    feature = b if a == target else a
                    excluded.append({"columns": [feature, target], "why": (
                        f"{feature} rises and falls in exactly the same order as {target}: it "
                        "is probably a transform of the target or leaks it, so it is left "
                        "out of the key findings")})
        caveats += [str(e["why"]) for e in excluded]
        for column, why in prepared.plan.dropped.items():
            caveats.append(f"{column} was left out: {why}")
        caveats.append("correlated columns share their importance: each may look less "
                       "important than the group is")
        table = report.to_frame()
        shown = table.head(15)
        chart = {"type": "bar", "x": shown["feature"].tolist(), "y": shown["mean"].tolist(),
                 "x_label": "column", "y_label": f"drop in {what} when shuffled"}
        return self.result(facts=facts, table=table, chart=chart, caveats=caveats,
                           data={"target": target, "task": prepared.task, "scoring": what,
                                 "baseline_score": trivial,
                                 "explanation": report.explain(),
                                 "negligible": NEGLIGIBLE, "tests": tests,
                                 "excluded": excluded, "leaks": leaks.to_dict()})


class SupervisedModel(Analysis):
    """The best model for the target that a pipeline search finds within a budget."""

    name = "supervised_model"
    title = "Predictive model"
    requirement = "a target column and at least one other column"
    needs_target = True

    def applies(self, profile: DatasetProfile, target: str | None = None) -> bool:
        return target is not None and profile.n_columns >= 2 and profile.n_rows >= 10

    def _run(self, frame: pd.DataFrame, profile: DatasetProfile, *, target: str | None = None,
             budget: float = 10.0, search: bool = True, metric: str | None = None,
             n_jobs: int | None = None, track: bool = False,
             searcher: Callable[..., SearchResult] | None = None,
             name: str = "dataset", random_state: int = 0,
             keep_columns: Sequence[str] = (), cluster: str | None = None) -> AnalysisResult:
        assert target is not None
        X = frame.drop(columns=[target])
        y = frame[target]
        # the search leaves out the columns that leak the target (models.leakage)
        keep: dict[str, Any] = {"keep_columns": tuple(keep_columns)} if keep_columns else {}
        # a Dask cluster (else the HUB_DASK_ADDRESS setting) for the search's evaluations
        on: dict[str, Any] = {"cluster": cluster} if cluster is not None else {}
        if search:
            searcher = searcher if searcher is not None else _default_searcher(random_state)
            result = searcher(X, y, budget=budget, name=name, metric=metric, n_jobs=n_jobs,
                              track=track, **keep, **on)
        else:
            from hub_kernel.automl.search import PipelineSearch

            result = PipelineSearch(budget=budget, metric=metric, n_jobs=n_jobs or 1,
                                    max_evaluations=1, families=["hgb"], warm_start=False,
                                    random_state=random_state, name=name, **keep).fit(X, y)
        best = result.best
        gain = best.score - result.baseline_score  # what the sentences set it beside
        what = "most common class" if result.task == "classification" else "mean"
        family = _family_title(best.config.family)
        facts = [
            Fact("model.task", f"Predicting {target} is a {result.task} task.", result.task),
            Fact("model.best_family", f"The best model is a {family}." if result.beats_baseline
                 else f"No model beats the baseline; the closest is a {family}.",
                 best.config.family),
            Fact("model.best_score", f"It reaches a cross-validated {result.metric} of "
                 f"{format_number(best.score)}.", best.score),
            Fact("model.baseline_score", f"Always predicting the {what} scores "
                 f"{format_number(result.baseline_score)}.", result.baseline_score),
            Fact("model.gain", f"The model improves on that by {format_number(gain)}.", gain),
            *([Fact("model.ensemble_size", f"Combining the best "
                    f"{format_number(len(result.ensemble))} configurations does better.",
                    len(result.ensemble)),
               Fact("model.ensemble_score", f"That combination reaches a cross-validated "
                    f"{result.metric} of {format_number(result.final_score)}.",
                    result.final_score)] if result.ensemble else []),
            Fact("model.n_evaluations", f"The search evaluated "
                 f"{format_number(len(result.evaluations))} configurations.",
                 len(result.evaluations)),
            Fact("model.search_seconds", f"It took {format_number(result.seconds)} seconds.",
                 result.seconds, "seconds"),
        ]
        # each configuration searched is a comparison with the baseline; the best is the
        # headline, its p-value corrected for the number searched
        tests = [comparison(
            p_value=_t_p_value(e.score - result.baseline_score, e.std, MIN_FOLDS),
            effect=_effect(e.score - result.baseline_score, result.baseline_score,
                           result.metric),
            measure="square root of the share of the possible gain over the baseline",
            columns=(target,),
            facts=["model.best_family", "model.best_score", "model.gain"]
            if e.index == best.index else []) for e in result.evaluations]
        table = result.leaderboard(20)
        chart = {"type": "bar", "x": table["configuration"].tolist(),
                 "y": table["score"].tolist(), "x_label": "configuration",
                 "y_label": result.metric}
        caveats = list(result.notes)
        if not result.beats_baseline:
            caveats.append("no model beats the baseline: the columns may not predict the "
                           "target")
        return self.result(
            facts=facts, table=table, chart=chart, caveats=caveats,
            data={"target": target, "task": result.task, "metric": result.metric,
                  "best": best.to_dict(), "stop_reason": result.stop_reason,
                  "ensemble": result.ensemble, "final_score": result.final_score,
                  "warm_start": result.warm_start, "run_id": result.parent_run_id,
                  "tests": tests, "beats_baseline": result.beats_baseline,
                  "baseline_score": result.baseline_score,
                  "leaks": result.leaks.to_dict() if result.leaks is not None else None},
            artifacts={"model": result.model, "search": result})


def _default_searcher(seed: int) -> Callable[..., SearchResult]:
    """What the strategy agent's ``search`` does with its default state: warm starts from (and
    memory in) ``$HUB_HOME/agents/strategy``, its trained family policy if any, and the audit
    log."""
    from functools import partial

    from hub_kernel.automl.policy import load_policy
    from hub_kernel.automl.searcher import search_and_remember
    from hub_kernel.automl.warmstart import MetaStore
    from hub_kernel.exceptions import HubError
    from hub_kernel.safety.audit import AuditLog

    try:
        policy = load_policy()
    except HubError as exc:
        logger.warning("strategy policy not loaded: %s", exc)
        policy = None
    return partial(search_and_remember, store=MetaStore(), policy=policy, audit=AuditLog(),
                   seed=seed or 0)


def _family_title(family: str) -> str:
    from hub_kernel.automl.space import FAMILIES

    return FAMILIES[family].title if family in FAMILIES else family


ANALYSES: tuple[type[Analysis], ...] = (FeatureImportance, SupervisedModel)
