"""The auto-retrain policy: retrain when drift or decay crosses its threshold, then gate.

``DriftGatedPolicy`` compares the newest batch of a model's dataset with the batch its current
version was trained on (``drift_report``: features, the champion's predictions, and its primary
metric on the new labelled rows against its cross-validated score). Past a threshold, it
retrains a challenger on part of the new batch and sends it through the A/B gate on the rest;
the autonomy mode then decides between promoting and proposing (``models.lifecycle.gate``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pandas as pd

from hub_kernel.models.lifecycle.retrain import RetrainContext, RetrainDecision, RetrainPolicy

if TYPE_CHECKING:
    from hub_kernel.models.lifecycle.drift import DriftReport
    from hub_kernel.models.lifecycle.gate import GateOutcome
    from hub_kernel.models.records import VersionInfo
    from hub_kernel.models.training import TrainResult

logger = logging.getLogger("hub_kernel")


class DriftGatedPolicy(RetrainPolicy):
    """Retrain on drift or decay; promote only through the A/B gate, by autonomy mode."""

    def __init__(self, *, holdout: float = 0.3, mode: str | None = None,
                 random_state: int = 0, min_holdout_rows: int = 20) -> None:
        self.holdout = holdout
        self.mode = mode
        self.random_state = random_state
        self.min_holdout_rows = min_holdout_rows
        self.reports: dict[str, DriftReport] = {}
        self.gates: dict[str, GateOutcome] = {}

    def should_retrain(self, context: RetrainContext) -> RetrainDecision:
        from hub_kernel.data.catalog import Catalog
        base = context.base
        if base.dataset_id == context.dataset.id:
            return RetrainDecision(False, f"no new batch since version {base.version}")
        info = context.registry.get_model_info(context.model.name)
        done = [v.version for v in info.versions if v.dataset_id == context.dataset.id]
        if done:  # a challenger from this batch exists (held or proposed): do not repeat it
            return RetrainDecision(False, f"version {done[-1]} was already trained on batch "
                                          f"{context.dataset.id}")
        if not base.dataset_id:
            return RetrainDecision(False, "the training batch is not recorded")
        reference = Catalog().load(base.dataset_id)
        model = context.registry.load_model(context.model.name, version=base.version)
        needed = model_features(model, reference)
        missing = [c for c in needed if c not in context.frame.columns]
        if missing:
            return RetrainDecision(False, f"the newest batch {context.dataset.id} lacks the "
                                          f"model's columns {missing}")
        features = needed
        report = model_drift(model, base, reference, context.frame, features)
        self.reports[context.model.name] = report
        from hub_kernel.safety.audit import log_decision

        log_decision(agent="retrain_policy", mode=self.mode,
              action=f"{'retrain' if report.should_retrain else 'keep'} {context.model.name}",
              explanation=report.explanation, propensity=1.0,
              observation={"model": context.model.name, "base": base.version,
                           "batch": context.dataset.id, "drift_share": report.drift_share,
                           "drifted": report.drifted_features})
        return RetrainDecision(report.should_retrain, report.explanation)

    def split(self, context: RetrainContext) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        frame = context.frame
        target = context.base.target
        labelled = frame[frame[target].notna()] if target in frame.columns else frame.iloc[:0]
        n_hold = max(self.min_holdout_rows, int(len(labelled) * self.holdout))
        if len(labelled) - n_hold < self.min_holdout_rows:
            return frame, None  # too few labelled rows to hold any out: the gate cannot run
        holdout = labelled.sample(n=n_hold, random_state=self.random_state)
        return frame.drop(index=holdout.index), holdout

    def after_retrain(self, result: TrainResult, context: RetrainContext) -> str | None:
        from hub_kernel.models.lifecycle.gate import run_gate

        holdout = context.holdout
        target = context.base.target
        if holdout is None or not target:
            return (f"challenger version {result.version} kept for review: too few new rows "
                    "to hold out for the A/B gate")
        # the champion may use columns the challenger dropped: give the gate every column
        outcome = run_gate(context.registry, result.name, holdout.drop(columns=[target]),
                           holdout[target], challenger=result.version, mode=self.mode,
                           unseen_by_challenger=True)
        self.gates[result.name] = outcome
        return outcome.explanation


def model_drift(model: Any, base: VersionInfo, reference: pd.DataFrame, current: pd.DataFrame,
                features: list[str]) -> DriftReport:
    """How far ``current`` drifted from ``reference`` (the batch ``base`` was trained on): the
    features, ``model``'s predictions, and its primary metric on ``current``'s labelled rows
    against its cross-validated score (decay is judged only when those rows can be scored)."""
    from hub_kernel.models.lifecycle.drift import drift_report

    current_metric = None
    if base.target and base.target in current.columns and base.primary_metric:
        labelled = current[current[base.target].notna()]
        if len(labelled):
            current_metric = score_model(model, labelled[features], labelled[base.target],
                                         base.primary_metric)
    return drift_report(
        reference[features], current[features], features=features,
        reference_predictions=pd.Series(model.predict(reference[features])),
        current_predictions=pd.Series(model.predict(current[features])),
        reference_metric=base.score if current_metric is not None else None,
        current_metric=current_metric,
        metric_name=base.primary_metric, higher_is_better=True,
    )


def model_features(model: Any, reference: pd.DataFrame) -> list[str]:
    """The columns the fitted pipeline ``model`` takes (all of ``reference``'s if it does not
    say: a model without ``feature_names_in_``)."""
    names = getattr(model, "feature_names_in_", None)
    return [str(n) for n in names] if names is not None else list(reference.columns)


def score_model(model: Any, X: pd.DataFrame, y: pd.Series, metric: str) -> float | None:
    """``model``'s ``metric`` (a scikit-learn scorer name, e.g. ``f1_macro``) on the labelled
    rows ``X``, ``y``; ``None`` when these rows cannot give it (e.g. one class only)."""
    from sklearn.metrics import get_scorer

    try:
        return float(get_scorer(metric)(model, X, y))
    except Exception as exc:  # a metric the new rows cannot give (e.g. one class only)
        logger.warning("cannot score the champion on the new batch (%s): %s", metric, exc)
        return None
