"""Recording a fairness check: metrics and ``hub/fairness.json`` in MLflow, tags on the version.

``log_fairness`` writes a ``FairnessReport`` (``models.fairness``) into a run (the training run,
or a run of its own tagged ``hub.kind=fairness``), tags the checked version with the decision
(the tags ``ModelRegistry.promote`` reads, see ``models.tags``), accumulates the model's declared
sensitive attributes and writes the check to the audit log.

mlflow is imported inside the function that uses it.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence

from hub_kernel.exceptions import FairnessError
from hub_kernel.models.fairness import FairnessReport
from hub_kernel.models.registry import ModelRegistry
from hub_kernel.models.tags import (
    FAIRNESS_DECISION_TAG,
    FAIRNESS_EXPLANATION_TAG,
    FAIRNESS_RUN_TAG,
    FAIRNESS_THRESHOLD_TAG,
    SENSITIVE_TAG,
)
from hub_kernel.models.tracking import metric_key, translate_errors

logger = logging.getLogger("hub_kernel")


def fairness_metrics(report: FairnessReport) -> dict[str, float]:
    """The report as MLflow metrics: ``fairness.<metric>`` (worst over attributes) and
    ``fairness.<attribute>.<metric>``; values that could not be computed are left out."""
    found = {f"fairness.{m}": v for m, v in report.metrics.items()}
    for attribute, values in report.by_attribute.items():
        for metric, value in values.items():
            found[metric_key(f"fairness.{attribute}.{metric}")] = value
    found["fairness.passed"] = 1.0 if report.passed else 0.0
    found["fairness.threshold"] = report.threshold
    return {k: float(v) for k, v in found.items() if math.isfinite(v)}


def fairness_tags(report: FairnessReport | None, run_id: str, *,
                  sensitive: Sequence[str] | None = None, decision: str | None = None,
                  explanation: str | None = None) -> dict[str, str]:
    """The version tags recording a fairness check (or, without a report, why none ran)."""
    declared = list(report.sensitive) if report is not None else list(sensitive or [])
    return {
        SENSITIVE_TAG: json.dumps(declared),
        FAIRNESS_DECISION_TAG: decision or (report.decision if report else "not checked"),
        FAIRNESS_RUN_TAG: run_id,
        FAIRNESS_EXPLANATION_TAG: (explanation or (report.explanation if report else ""))[:5000],
        **({FAIRNESS_THRESHOLD_TAG: repr(report.threshold)} if report else {}),
    }


def log_fairness(report: FairnessReport, *, run_id: str | None = None, name: str | None = None,
                 version: int | None = None, registry: ModelRegistry | None = None,
                 dataset_id: str | None = None) -> str:
    """Log ``report`` to MLflow and, given ``name`` and ``version``, tag that version with it.

    Metrics (``fairness_metrics``) and the artifact ``hub/fairness.json`` go into ``run_id``
    (e.g. the training run), or into a new run of hub's experiment tagged ``hub.kind=fairness``.
    The version gets ``hub.sensitive``, ``hub.fairness_decision`` (pass/fail),
    ``hub.fairness_run`` and the explanation; the model's own ``hub.sensitive`` tag gains the
    attributes (declarations accumulate, so later versions are checked on them too), and the
    check is written to the audit log. Returns the run id.
    """
    import time

    from mlflow.entities import Metric

    if (name is None) != (version is None):
        raise FairnessError("give both the model name and the version to tag, or neither")
    registry = registry or ModelRegistry()

    @translate_errors("logging the fairness check")
    def log() -> str:
        client = registry.client
        own = run_id is None
        if own:
            tags = {"hub.kind": "fairness", FAIRNESS_DECISION_TAG: report.decision}
            if name is not None:
                tags |= {"hub.model_name": name, "hub.version": str(version)}
            if dataset_id:
                tags["hub.dataset_id"] = dataset_id
            run = client.create_run(registry.store.experiment_id, tags=tags,
                                    run_name=f"{name}-v{version}-fairness" if name
                                    else "fairness")
            target_run = run.info.run_id
        else:
            target_run = str(run_id)
        stamp = int(time.time() * 1000)
        client.log_batch(target_run, metrics=[
            Metric(k, v, stamp, 0) for k, v in fairness_metrics(report).items()])
        client.log_dict(target_run, report.to_dict(), "hub/fairness.json")
        if own:
            client.set_terminated(target_run, status="FINISHED")
        if name is not None and version is not None:
            for key, value in fairness_tags(report, target_run).items():
                client.set_model_version_tag(name, str(version), key, value)
            registry.declare_sensitive(name, report.sensitive)
        return target_run

    logged = log()
    if name is not None:
        from hub_kernel.safety.audit import log_decision

        log_decision(agent="fairness_check", action=f"fairness {report.decision} {name} "
                                                    f"v{version}",
                     explanation=report.explanation, propensity=1.0,
                     observation={"model": name, "version": version, "run": logged,
                                  "metrics": report.to_dict()["metrics"],
                                  "sensitive": list(report.sensitive)})
    logger.info("fairness of %s v%s: %s (%s)", name, version, report.decision,
                report.explanation)
    return logged
