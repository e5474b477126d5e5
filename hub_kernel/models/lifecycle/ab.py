"""The A/B gate: champion against challenger on the same labelled rows, with a paired test.

Classification compares accuracy with McNemar's test on the discordant pairs (rows exactly one
model gets right): exact binomial test when there are fewer than 25 of them, chi-square with
continuity correction otherwise. Regression compares mean absolute error with the Wilcoxon
signed-rank test on the paired absolute errors.

Decision rule (``RULE``): promote the challenger only if its metric is better than the
champion's AND the paired test rejects equal performance at ``alpha`` (two-sided p < alpha);
otherwise hold. The direction check makes the gate one-sided: a challenger that is not better
is never promoted, and one that is not better in truth is promoted with probability at most
alpha / 2.

scipy and mlflow are imported inside the functions that use them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from hub_kernel.core.config import get_settings
from hub_kernel.core.redact import redact_text, redact_url
from hub_kernel.exceptions import ModelError

logger = logging.getLogger("hub_kernel")

Task = Literal["classification", "regression"]
Decision = Literal["promote", "hold"]

MIN_ROWS = 10
EXACT_BELOW = 25  # discordant pairs under which McNemar's test is the exact binomial test
RULE = ("Promote the challenger only if its {metric} is better than the champion's on the same "
        "{n} rows AND the paired test ({test}) rejects equal performance at alpha = {alpha:g} "
        "(two-sided p < alpha); otherwise hold.")
EXPERIMENT_PREFIX = "hub-ab/"


@dataclass(frozen=True)
class ABResult:
    """Outcome of one champion/challenger comparison. ``details`` holds the test's counts."""

    task: Task
    n: int
    metric: str
    champion_metric: float
    challenger_metric: float
    higher_is_better: bool
    test: str
    statistic: float
    p_value: float
    alpha: float
    decision: Decision
    rule: str
    explanation: str
    details: dict[str, float] = field(default_factory=dict)

    @property
    def promote(self) -> bool:
        return self.decision == "promote"

    @property
    def improvement(self) -> float:
        """How much better the challenger is (positive = better), in the metric's units."""
        diff = self.challenger_metric - self.champion_metric
        return diff if self.higher_is_better else -diff

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _array(values: Any, what: str) -> np.ndarray:
    if isinstance(values, pd.DataFrame):
        if values.shape[1] != 1:
            raise ModelError(f"{what} must be one column, got {values.shape[1]}")
        values = values.iloc[:, 0]
    if isinstance(values, pd.Series):
        values = values.to_numpy(dtype=object if values.dtype == object else None,
                                 na_value=np.nan)
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array.ravel()
    if array.ndim != 1:
        raise ModelError(f"{what} must be one-dimensional, got shape {array.shape}")
    return array


def _has_missing(array: np.ndarray) -> bool:
    return bool(pd.isna(array).any())


def _mcnemar(champion_ok: np.ndarray, challenger_ok: np.ndarray
             ) -> tuple[str, float, float, dict[str, float]]:
    from scipy.stats import binomtest, chi2

    b = int(np.sum(champion_ok & ~challenger_ok))  # only the champion right
    c = int(np.sum(~champion_ok & challenger_ok))  # only the challenger right
    details = {"champion_only_correct": float(b), "challenger_only_correct": float(c),
               "discordant": float(b + c)}
    if b + c == 0:
        return "McNemar (no discordant pairs)", 0.0, 1.0, details
    if b + c < EXACT_BELOW:
        result = binomtest(c, b + c, 0.5, alternative="two-sided")
        return "McNemar exact (binomial)", float(c), float(result.pvalue), details
    statistic = (abs(b - c) - 1) ** 2 / (b + c)
    return "McNemar chi-square (continuity-corrected)", float(statistic), \
        float(chi2.sf(statistic, df=1)), details


def _wilcoxon(champion_err: np.ndarray, challenger_err: np.ndarray
              ) -> tuple[str, float, float, dict[str, float]]:
    from scipy.stats import wilcoxon

    diff = champion_err - challenger_err  # positive: the challenger's error is smaller
    nonzero = int(np.count_nonzero(diff))
    details = {"challenger_closer": float(np.sum(diff > 0)),
               "champion_closer": float(np.sum(diff < 0)), "ties": float(len(diff) - nonzero)}
    if nonzero == 0:
        return "Wilcoxon signed-rank (all errors equal)", 0.0, 1.0, details
    result = wilcoxon(champion_err, challenger_err, zero_method="wilcox",
                      alternative="two-sided")
    return "Wilcoxon signed-rank", float(result.statistic), float(result.pvalue), details


def ab_test_predictions(y: Sequence[Any] | np.ndarray | pd.Series,
                        champion_pred: Sequence[Any] | np.ndarray | pd.Series,
                        challenger_pred: Sequence[Any] | np.ndarray | pd.Series,
                        task: Task | None = None, alpha: float | None = None) -> ABResult:
    """Gate on precomputed predictions of both models for the same labelled rows."""
    alpha = get_settings().ab_alpha if alpha is None else float(alpha)
    if not 0 < alpha < 1:
        raise ModelError(f"alpha must be between 0 and 1, got {alpha}")
    truth = _array(y, "y")
    champ = _array(champion_pred, "champion predictions")
    chall = _array(challenger_pred, "challenger predictions")
    if not len(truth) == len(champ) == len(chall):
        raise ModelError(f"labels and predictions differ in length ({len(truth)}, {len(champ)}, "
                         f"{len(chall)}): both models must be scored on the same rows")
    if len(truth) < MIN_ROWS:
        raise ModelError(f"only {len(truth)} labelled rows: the A/B gate needs at least "
                         f"{MIN_ROWS} to compare models")
    if _has_missing(truth):
        raise ModelError("the labels contain missing values: drop unlabelled rows first")
    for what, pred in (("champion", champ), ("challenger", chall)):
        if _has_missing(pred):
            raise ModelError(f"the {what}'s predictions contain missing values")
    if task is None:
        from hub_kernel.models.features import infer_task

        task = infer_task(truth)
    if task not in ("classification", "regression"):
        raise ModelError(f"task must be 'classification' or 'regression', got {task!r}")

    if task == "classification":
        champion_ok, challenger_ok = champ == truth, chall == truth
        metric, higher = "accuracy", True
        champion_value, challenger_value = float(champion_ok.mean()), float(challenger_ok.mean())
        test, statistic, p_value, details = _mcnemar(champion_ok, challenger_ok)
    else:
        try:
            truth_f, champ_f, chall_f = (a.astype(float) for a in (truth, champ, chall))
        except (TypeError, ValueError) as exc:
            raise ModelError(f"regression needs numeric labels and predictions: {exc}") from None
        if not all(np.isfinite(a).all() for a in (truth_f, champ_f, chall_f)):
            raise ModelError("labels or predictions contain infinite values")
        champion_err, challenger_err = np.abs(champ_f - truth_f), np.abs(chall_f - truth_f)
        metric, higher = "mae", False
        champion_value = float(champion_err.mean())
        challenger_value = float(challenger_err.mean())
        test, statistic, p_value, details = _wilcoxon(champion_err, challenger_err)
        # Wilcoxon tests the median difference: the mean and the median must agree
        median_gain = float(np.median(champion_err - challenger_err))

    n = len(truth)
    better = challenger_value > champion_value if higher else challenger_value < champion_value
    if task == "regression" and median_gain <= 0:
        better = False
    significant = p_value < alpha
    decision: Decision = "promote" if better and significant else "hold"
    rule = RULE.format(metric=metric, n=n, test=test, alpha=alpha)
    explanation = _explain(metric, champion_value, challenger_value, better, p_value, alpha,
                           test, n, decision)
    logger.info("A/B gate: %s", explanation)
    return ABResult(task=task, n=n, metric=metric, champion_metric=champion_value,
                    challenger_metric=challenger_value, higher_is_better=higher, test=test,
                    statistic=statistic, p_value=p_value, alpha=alpha, decision=decision,
                    rule=rule, explanation=explanation, details=details)


def _explain(metric: str, champion: float, challenger: float, better: bool, p_value: float,
             alpha: float, test: str, n: int, decision: Decision) -> str:
    p_text = "p<0.001" if p_value < 0.001 else f"p={p_value:.3f}"
    comparison = "better than" if better else ("equal to" if champion == challenger
                                               else "worse than")
    if decision == "promote":
        why = f"the challenger is better and the difference is significant at alpha {alpha:g}"
    elif not better:
        why = "the challenger is not better"
    else:
        why = f"the difference is not significant at alpha {alpha:g}"
    return (f"Challenger {metric} {challenger:.4g} is {comparison} the champion's {champion:.4g} "
            f"on {n} rows ({test}, {p_text}): {decision} the "
            f"{'challenger' if decision == 'promote' else 'champion'}, because {why}.")


def ab_test(champion: Any, challenger: Any, X: Any, y: Any, *, task: Task | None = None,
            alpha: float | None = None) -> ABResult:
    """Gate two fitted estimators (anything with ``.predict``) on the same labelled rows."""
    predictions = []
    for what, model in (("champion", champion), ("challenger", challenger)):
        if not hasattr(model, "predict"):
            raise ModelError(f"the {what} has no predict method: pass a fitted estimator")
        try:
            predictions.append(model.predict(X))
        except Exception as exc:
            raise ModelError(f"the {what} could not predict on these rows: {exc}") from exc
    if task is None:
        from hub_kernel.models.features import estimator_task

        task = estimator_task(champion) or estimator_task(challenger)
    return ab_test_predictions(y, predictions[0], predictions[1], task=task, alpha=alpha)


def log_ab_result(result: ABResult, model_name: str, champion_version: str | int,
                  challenger_version: str | int, tracking_uri: str | None = None) -> str:
    """Record the comparison as an MLflow run in experiment ``hub-ab/<model_name>``; return its id.

    Params: versions, test, rule, metric, task, alpha, n. Metrics: p_value, statistic, both
    models' metric. Tags: ``hub.kind=ab_test``, ``hub.decision``, ``hub.model_name``. The full
    result is also stored as the artifact ``ab_result.json``.
    """
    from mlflow.entities import Metric, Param, RunTag

    from hub_kernel.models.tracking import ensure_experiment, mlflow_client

    settings = get_settings()
    uri = tracking_uri or settings.tracking_uri
    if uri.startswith("sqlite:"):
        settings.ensure_home()
    name = f"{EXPERIMENT_PREFIX}{model_name}"
    try:
        client = mlflow_client(uri)
        experiment_id = ensure_experiment(
            client, name, tracking_uri=uri, artifacts_dir=settings.artifacts_dir,
            tags={"hub.kind": "ab_test", "hub.model_name": model_name})
        tags = {"hub.kind": "ab_test", "hub.decision": result.decision,
                "hub.model_name": model_name,
                "mlflow.runName": f"v{challenger_version} vs v{champion_version}"}
        run = client.create_run(experiment_id, tags=tags)
        run_id = run.info.run_id
        params = {"model_name": model_name, "champion_version": str(champion_version),
                  "challenger_version": str(challenger_version), "test": result.test,
                  "rule": result.rule, "metric": result.metric, "task": result.task,
                  "alpha": str(result.alpha), "n": str(result.n), "decision": result.decision}
        stamp = int(time.time() * 1000)
        metrics = {"p_value": result.p_value, "statistic": result.statistic,
                   "champion_metric": result.champion_metric,
                   "challenger_metric": result.challenger_metric,
                   f"champion_{result.metric}": result.champion_metric,
                   f"challenger_{result.metric}": result.challenger_metric}
        client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), stamp, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag("hub.explanation", result.explanation[:5000])],
        )
        client.log_text(run_id, json.dumps(result.to_dict(), indent=2), "ab_result.json")
        client.set_terminated(run_id)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"could not log the A/B result to MLflow at {redact_url(uri)}: "
                         f"{redact_text(str(exc))}") from exc
    logger.info("logged A/B result for %s (v%s vs v%s) as run %s", model_name,
                challenger_version, champion_version, run_id)
    return run_id
