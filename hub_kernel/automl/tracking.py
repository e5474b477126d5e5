"""MLflow runs of one pipeline search: a parent run, and one child run per evaluation."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from typing import Any

from hub_kernel.automl.results import Evaluation, SearchResult
from hub_kernel.automl.warmstart import AGENT

logger = logging.getLogger("hub_kernel")


class SearchTracker:
    """MLflow runs of one search: a parent run and one child run per evaluation."""

    def __init__(self, tracking_uri: str | None, name: str) -> None:
        from hub_kernel.models.tracking import TrackingStore, process_marker

        self.store = TrackingStore.from_settings(tracking_uri).open()
        self.client = self.store.client
        tags = {"hub.agent": AGENT, "hub.kind": "strategy_search", "hub.dataset": name,
                "mlflow.runName": f"strategy search {name}"[:250], **process_marker()}
        run = self.client.create_run(self.store.experiment_id, tags=tags)
        self.parent_id: str = run.info.run_id

    def params(self, params: Mapping[str, Any]) -> None:
        self._log(self.parent_id, params=params)

    def tags(self, tags: Mapping[str, str]) -> None:
        self._log(self.parent_id, tags=tags)

    def _log(self, run_id: str, *, params: Mapping[str, Any] | None = None,
             metrics: Mapping[str, float] | None = None,
             tags: Mapping[str, str] | None = None) -> None:
        from mlflow.entities import Metric, Param, RunTag

        stamp = int(time.time() * 1000)
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), stamp, 0) for k, v in (metrics or {}).items()
                     if v is not None and math.isfinite(float(v))],
            params=[Param(k, str(v)[:500]) for k, v in (params or {}).items()],
            tags=[RunTag(k, str(v)[:5000]) for k, v in (tags or {}).items()])

    def child(self, evaluation: Evaluation) -> str | None:
        try:
            run = self.client.create_run(
                self.store.experiment_id,
                tags={"mlflow.parentRunId": self.parent_id, "hub.agent": AGENT,
                      "mlflow.runName": f"{evaluation.index:03d} {evaluation.config.label()}"
                      [:250]})
            run_id: str = run.info.run_id
            params = {"family": evaluation.config.family, "source": evaluation.source,
                      **{f"param.{k}" if not k.startswith("prep.") else k: v
                         for k, v in evaluation.config.params.items()}}
            self._log(run_id, params=params,
                      metrics={"cv_score": evaluation.score, "cv_std": evaluation.std,
                               "seconds": evaluation.seconds,
                               "fit_seconds": evaluation.fit_seconds,
                               "propensity": evaluation.propensity,
                               **({"expected_score": evaluation.expected}
                                  if evaluation.expected is not None else {})},
                      tags={"hub.explanation": evaluation.explanation,
                            "hub.configuration": evaluation.config.label()})
            self.client.set_terminated(run_id, status="FINISHED")
            return run_id
        except Exception as exc:  # the search goes on; the run is missing from the record
            logger.warning("could not log evaluation %d to MLflow: %s", evaluation.index, exc)
            return None

    def finish(self, result: SearchResult, status: str = "FINISHED") -> None:
        try:
            self._log(self.parent_id,
                      metrics={"best_score": result.best.score,
                               "baseline_score": result.baseline_score,
                               "n_evaluations": len(result.evaluations),
                               "seconds": result.seconds},
                      tags={"hub.best_configuration": result.best.config.label(),
                            "hub.beats_baseline": str(result.beats_baseline).lower(),
                            "hub.stop_reason": result.stop_reason,
                            "hub.warm_start": ", ".join(f"{n} ({s:.2f})"
                                                        for n, s in result.warm_start) or "-"})
            self.client.log_dict(self.parent_id, {
                "metric": result.metric, "task": result.task, "stop_reason": result.stop_reason,
                "best": result.best.to_dict(), "baseline_score": result.baseline_score,
                "beats_baseline": result.beats_baseline,
                "leaks": result.leaks.to_dict() if result.leaks is not None else None,
                "evaluations": [e.to_dict() for e in result.evaluations]},
                "hub/strategy_search.json")
            self.client.set_terminated(self.parent_id, status=status)
        except Exception as exc:
            logger.warning("could not close the MLflow run of the search: %s", exc)

    def fail(self) -> None:
        try:
            self.client.set_terminated(self.parent_id, status="FAILED")
        except Exception as exc:
            logger.warning("could not mark the MLflow run of the search failed: %s", exc)

