"""The retrain pipeline ``notebooks/retrain.ipynb`` runs: one call, one ``RetrainSummary``.

``retrain_pipeline(source, model, ...)``:

1. **load** the newest data: ``source`` (a file or URL, ingested into the catalog under the
   model's dataset name; a catalog dataset name or id; or ``None``: the newest batch of the
   model's dataset, or the bundled sample when the model does not exist yet);
2. **validate**: a batch that breaks its dataset's declared schema stops here (``invalid``);
3. a model that does not exist yet is **created** from the batch (its first version is the
   champion) and the pipeline ends;
4. **drift check** of the newest batch against the champion's training batch (features,
   predictions, decay) with the thresholds given (default: the settings);
5. past a threshold, **retrain a challenger** on part of the batch and send it through the
   **A/B gate** on the rest; the gate **promotes or proposes** a winner by autonomy mode (a
   fairness gate in ``ModelRegistry.promote`` may still refuse: the gate then reports held)
   and writes the audit log (``hub_kernel.models.lifecycle.policy.DriftGatedPolicy``);
6. **log to MLflow** (experiment ``hub-retrain``) and **write the summary** (JSON and Markdown
   under ``$HUB_HOME/retrain/<model>/``).

The summary displays as Markdown in a notebook and carries its data under the MIME type the
scheduler reads (``application/vnd.hub.run+json``), so a scheduled run knows its outcome.
``time_budget_seconds`` bounds the work: a step not yet started when the budget is spent
(training, the gate) is skipped and said so.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hub_kernel.exceptions import HubError, ModelError, ScheduleError
from hub_kernel.schedule.notebook import OUTCOME_MIME

if TYPE_CHECKING:
    from hub_kernel.data.catalog import Catalog, DatasetRecord
    from hub_kernel.data.validation import ValidationReport
    from hub_kernel.models.lifecycle.retrain import RetrainContext, RetrainDecision
    from hub_kernel.models.records import ModelInfo
    from hub_kernel.models.registry import ModelRegistry
    from hub_kernel.models.training import TrainResult

logger = logging.getLogger("hub_kernel")

Outcome = Literal["created", "no-change", "promoted", "proposed", "held", "invalid", "failed"]
MLFLOW_EXPERIMENT = "hub-retrain"
_MODES = ("assisted", "supervised", "autonomous")


@dataclass(frozen=True)
class RetrainSummary:
    """What one pipeline run saw, decided and did."""

    model: str
    outcome: Outcome
    reason: str
    mode: str
    dataset: str | None = None
    batch: str | None = None
    rows: int | None = None
    new_batch: bool = False
    validation: dict[str, Any] = field(default_factory=dict)
    drift: dict[str, Any] | None = None
    champion_before: int | None = None
    champion_after: int | None = None
    challenger: int | None = None
    challenger_score: float | None = None
    champion_score: float | None = None
    primary_metric: str | None = None
    gate: dict[str, Any] | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    time_budget_seconds: float | None = None
    started_at: str = ""
    duration_seconds: float = 0.0
    paths: dict[str, str] = field(default_factory=dict)
    mlflow_run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_markdown(self) -> str:
        """A short report: the outcome, then one line per step.

        Every name and text in it (a dataset or column name, a reason) is escaped: HTML
        special characters and Markdown punctuation cannot make a tag or a link when the
        summary is rendered (``reports.narrative.md_escape``)."""
        from hub_kernel.reports.narrative import md_escape

        def cell(text: Any) -> str:
            return md_escape(str(text))

        def code(text: Any) -> str:  # a code span shows its text as is: only a backtick escapes
            value = " ".join(str(text).splitlines())
            return f"`{value}`" if value and "`" not in value else cell(value)

        rows: list[tuple[str, str]] = []
        if self.batch:
            rows.append(("data", f"batch {code(self.batch)} of {code(self.dataset)}, "
                                 f"{self.rows or 0:,} rows" + (" (new)" if self.new_batch else "")))
        if self.validation:
            v = self.validation
            rows.append(("validation", "ok" if v.get("ok") else "breaks the declared schema"
                         + f" ({v.get('errors', 0)} errors, {v.get('warnings', 0)} warnings)"))
        if self.drift:
            rows.append(("drift", cell(self.drift.get("explanation", ""))))
        if self.challenger is not None:
            score = ("" if self.challenger_score is None
                     else f": {self.primary_metric}={self.challenger_score:.4g} (cross-validated)")
            rows.append(("challenger", f"version {self.challenger}{cell(score)}"))
        if self.gate:
            g = self.gate
            rows.append(("A/B gate", cell(
                f"{g.get('test')} on {g.get('n')} rows: {g.get('metric')} champion "
                f"{g.get('champion_metric', float('nan')):.4g}, challenger "
                f"{g.get('challenger_metric', float('nan')):.4g}, p={g.get('p_value', 1):.3g}"
                f" → {g.get('action')}")))
        before = "-" if self.champion_before is None else f"v{self.champion_before}"
        after = "-" if self.champion_after is None else f"v{self.champion_after}"
        rows.append(("champion", before if before == after else f"{before} → {after}"))
        budget = (f" of a {self.time_budget_seconds:g} s budget"
                  if self.time_budget_seconds else "")
        rows.append(("time", f"{self.duration_seconds:.1f} s{budget} ({cell(self.mode)} mode)"))
        lines = [f"### Retrain {code(self.model)}: **{cell(self.outcome)}**", "",
                 cell(self.reason), "",
                 "| step | result |", "| --- | --- |"]
        lines += [f"| {step} | {text} |" for step, text in rows]
        return "\n".join(lines) + "\n"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/plain": f"RetrainSummary({self.model}: {self.outcome}: {self.reason})",
                "text/markdown": self.to_markdown(),
                OUTCOME_MIME: json.loads(json.dumps(self.to_dict(), default=str))}


@contextlib.contextmanager
def _thresholds(values: dict[str, float | None]) -> Iterator[dict[str, float]]:
    """The drift thresholds in force for this run: the given ones over the settings."""
    from hub_kernel.core import config

    given = {k: float(v) for k, v in values.items() if v is not None}
    for key, value in given.items():
        ok = 0 < value < 1 if key == "drift_ks_alpha" else (
            0 < value <= 1 if key == "drift_share_threshold" else value >= 0)
        if not ok or (key == "drift_psi_threshold" and value == 0):
            raise ScheduleError(f"invalid {key}={value:g}: PSI > 0, 0 < KS alpha < 1, "
                                "0 < share <= 1, decay >= 0")
    previous = config.get_settings()
    in_force = previous.model_copy(update=given)
    # drift_report reads the settings in force: swap them for the run, then restore
    config._settings = in_force
    try:
        yield {k: float(getattr(in_force, k)) for k in values}
    finally:
        config._settings = previous


def _policy(deadline: float | None, mode: str, holdout: float) -> Any:
    """``DriftGatedPolicy`` that skips training and gating once ``deadline`` has passed."""
    from hub_kernel.models.lifecycle.policy import DriftGatedPolicy
    from hub_kernel.models.lifecycle.retrain import RetrainDecision

    class BudgetedPolicy(DriftGatedPolicy):
        spent = False

        def _late(self) -> bool:
            self.spent = self.spent or (deadline is not None and time.monotonic() > deadline)
            return self.spent

        def should_retrain(self, context: RetrainContext) -> RetrainDecision:
            decision = super().should_retrain(context)
            if decision.retrain and self._late():
                return RetrainDecision(False, f"{decision.reason} The time budget was spent "
                                              "before retraining: nothing trained.")
            return decision

        def after_retrain(self, result: TrainResult, context: RetrainContext) -> str | None:
            if self._late():
                return (f"challenger version {result.version} kept for review: the time "
                        "budget was spent before the A/B gate")
            return super().after_retrain(result, context)

    return BudgetedPolicy(mode=mode, holdout=holdout)


def _model_info(registry: ModelRegistry, name: str) -> ModelInfo | None:
    from hub_kernel.models.registry import check_name

    check_name(name)
    try:
        return registry.get_model_info(name)
    except ModelError as exc:
        if "no model named" in str(exc):
            return None
        raise


def _load(catalog: Catalog, source: str | Path | None, info: ModelInfo | None,
          dataset_name: str | None) -> tuple[DatasetRecord, ValidationReport, bool]:
    """The batch to work on, its validation report, and whether this call stored it."""
    import re

    from hub_kernel.data.samples import sample_path

    recorded = None
    if info is not None and info.champion is not None:
        base = info.version(info.champion)
        recorded = base.dataset_name or base.dataset_id
    name = dataset_name or recorded
    if source is None:
        if recorded is None and info is not None:
            raise ScheduleError(f"model {info.name!r} has no recorded dataset (it was trained "
                                "from an in-memory table): pass source=PATH")
        if recorded is not None and dataset_name is None:
            record = catalog.get(recorded)
            return record, catalog.report(record.id), False
        source = sample_path()
    text = str(source)
    if Path(text).expanduser().is_file() or re.match(r"^https?://", text, re.I):
        result = catalog.ingest(str(Path(text).expanduser()) if Path(text).expanduser().is_file()
                                else text, name=name)
        record, report, created = result.record, result.report, result.created
    else:
        record = catalog.get(text)
        report, created = catalog.report(record.id), False
    if recorded is not None and record.name != recorded and record.id != recorded:
        raise ScheduleError(
            f"model {info.name if info else ''!r} is trained on dataset {recorded!r}, but "
            f"{text!r} is dataset {record.name!r}: pass a file (ingested as a new batch of "
            f"{recorded!r}) or dataset_name={recorded!r}"
        )
    return record, report, created


def retrain_pipeline(
    source: str | Path | None = None,
    model: str = "seattle-weather-temp_max",
    *,
    target: str | None = None,
    dataset_name: str | None = None,
    drop_columns: Sequence[str] = (),
    mode: str | None = None,
    drift_psi_threshold: float | None = None,
    drift_ks_alpha: float | None = None,
    drift_share_threshold: float | None = None,
    decay_threshold: float | None = None,
    time_budget_seconds: float | None = None,
    cv: int | None = None,
    search_budget_seconds: float | None = None,
    holdout: float = 0.3,
    output_dir: str | Path | None = None,
    log_to_mlflow: bool = True,
) -> RetrainSummary:
    """Keep ``model`` fresh on the newest data; see the module docstring for the steps.

    ``target`` (and ``drop_columns``, left out of the features) matter only when the model is
    created. ``mode`` is the autonomy mode (default ``HUB_AUTONOMY_MODE``). Raises ``HubError``
    subclasses for bad input, and ``ModelError`` when retraining fails (after the summary, with
    outcome ``failed``, is written).

    ``search_budget_seconds`` runs the strategy search (``ModelTrainer.train_model(...,
    budget=)``) when the model is created, and when a model without a stored budget is
    retrained; a model the search trained is searched again within its own stored budget.
    None: the trainer's fast default for models never searched.
    """
    from hub_kernel.automl.searcher import StrategySearcher
    from hub_kernel.core.config import get_settings
    from hub_kernel.data.catalog import Catalog
    from hub_kernel.models.trainer import ModelTrainer

    clock = time.monotonic()
    started = datetime.now(UTC)
    settings = get_settings()
    mode = mode or settings.autonomy_mode
    if mode not in _MODES:
        raise ScheduleError(f"unknown mode {mode!r}: use assisted, supervised or autonomous")
    if time_budget_seconds is not None and time_budget_seconds <= 0:
        raise ScheduleError("time_budget_seconds must be positive (or None for no limit)")
    if not 0 < holdout < 1:
        raise ScheduleError(f"holdout must be a share between 0 and 1, not {holdout}")
    deadline = clock + time_budget_seconds if time_budget_seconds else None
    if search_budget_seconds is not None and not search_budget_seconds > 0:
        raise ScheduleError("search_budget_seconds must be positive (or None: no search)")
    trainer = ModelTrainer(cv=cv, searcher=StrategySearcher())
    registry = trainer.registry
    info = _model_info(registry, model)
    catalog = Catalog()
    record, report, created = _load(catalog, source, info, dataset_name)
    if info is not None and info.champion is not None:
        newest = catalog.get(record.name)  # what the retrain compares: the newest batch
        if newest.id != record.id:
            record, report, created = newest, catalog.report(newest.id), False
    common: dict[str, Any] = {
        "model": model, "mode": mode, "dataset": record.name, "batch": record.id,
        "rows": record.n_rows, "new_batch": created, "time_budget_seconds": time_budget_seconds,
        "started_at": started.isoformat(timespec="seconds"),
        "validation": {"ok": report.ok, "errors": len(report.errors),
                       "warnings": len(report.warnings), "summary": report.summary()},
        "champion_before": info.champion if info else None,
    }
    requested = {"drift_psi_threshold": drift_psi_threshold, "drift_ks_alpha": drift_ks_alpha,
                 "drift_share_threshold": drift_share_threshold,
                 "decay_threshold": decay_threshold}
    failure: str | None = None
    with _thresholds(requested) as thresholds:
        common["thresholds"] = thresholds
        if not record.valid or not report.ok:
            outcome: Outcome = "invalid"
            reason = (f"batch {record.id} of {record.name!r} breaks its declared schema "
                      f"({len(report.errors)} error(s)); nothing retrained: fix the data")
            details: dict[str, Any] = {}
        elif info is None or info.champion is None:
            outcome, reason, details = _create(trainer, catalog, model, record, target,
                                               drop_columns, search_budget_seconds)
        else:
            outcome, reason, details, failure = _retrain(trainer, model, mode, deadline,
                                                         holdout, search_budget_seconds)
    after = _model_info(registry, model)
    from hub_kernel.core.redact import redact_text, secrets_of

    summary = RetrainSummary(  # the source's credentials stay out of what is written and shown
        **common, **details, outcome=outcome,
        reason=redact_text(reason, secrets_of({"source": source})),
        champion_after=after.champion if after else None,
        duration_seconds=round(time.monotonic() - clock, 3),
    )
    summary = _write(summary, output_dir)
    if log_to_mlflow:
        summary = _log(summary, source)
    logger.info("retrain %s: %s (%s)", model, summary.outcome, summary.reason)
    if failure is not None:
        raise ModelError(f"retraining {model!r} failed: {failure} (summary: "
                         f"{summary.paths.get('json', '-')})")
    return summary


def _create(trainer: Any, catalog: Catalog, model: str, record: DatasetRecord,
            target: str | None, drop_columns: Sequence[str], budget: float | None = None,
            ) -> tuple[Outcome, str, dict[str, Any]]:
    frame = catalog.load(record.id)
    if not target:
        raise ScheduleError(f"model {model!r} does not exist yet: pass target=COLUMN to create "
                            f"it from {record.name!r}")
    if target not in frame.columns:
        raise ScheduleError(f"{record.name!r} has no column {target!r} to predict; columns: "
                            f"{', '.join(map(str, frame.columns[:20]))}")
    dropped = [c for c in drop_columns if c in frame.columns and c != target]
    frame = frame.drop(columns=dropped)
    result = trainer.train_model_sync(model, frame.drop(columns=[target]), frame[target],
                                      dataset_id=record.id, budget=budget)
    reason = (f"created {model!r}: version {result.version} ({result.alias}) trained on batch "
              f"{record.id}, {result.primary_metric}={result.score:.4g} (cross-validated)")
    if result.search is not None:
        reason += f"; searched {budget:g} s, winner {result.search.winner}"
    return "created", reason, {"challenger": None, "champion_score": result.score,
                               "primary_metric": result.primary_metric}


def _retrain(trainer: Any, model: str, mode: str, deadline: float | None, holdout: float,
             budget: float | None = None,
             ) -> tuple[Outcome, str, dict[str, Any], str | None]:
    policy = _policy(deadline, mode, holdout)
    try:
        outcomes = trainer.retrain_models_sync(policy, names=[model], budget=budget)
    except HubError as exc:
        return "failed", str(exc), {}, str(exc)
    result = outcomes[0]
    report = policy.reports.get(model)
    details: dict[str, Any] = {}
    if report is not None:
        details["drift"] = {"should_retrain": report.should_retrain,
                            "drift_share": report.drift_share,
                            "drifted_features": report.drifted_features,
                            "reasons": list(report.reasons), "explanation": report.explanation}
    if result.status == "failed":
        return "failed", result.reason, details, result.reason
    if result.status == "skipped":
        return "no-change", result.reason, details, None
    assert result.result is not None
    trained = result.result
    details.update(challenger=trained.version, challenger_score=trained.score,
                   primary_metric=trained.primary_metric)
    gate = policy.gates.get(model)
    if gate is None:  # too few rows to hold out, or out of time: kept for a person
        return "held", result.reason, details, None
    details["gate"] = {"action": gate.action, "explanation": gate.explanation,
                       "ab_run_id": gate.ab_run_id, "champion": gate.champion,
                       **{k: v for k, v in gate.ab.to_dict().items() if k != "details"}}
    info = trainer.registry.get_model_info(model)
    champion = info.version(gate.champion) if gate.champion in {
        v.version for v in info.versions} else None
    details["champion_score"] = champion.score if champion else None
    return gate.action, gate.explanation, details, None


def _write(summary: RetrainSummary, output_dir: str | Path | None) -> RetrainSummary:
    from dataclasses import replace

    from hub_kernel.core.config import get_settings

    folder = Path(output_dir) if output_dir else get_settings().home / "retrain" / summary.model
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    paths = {"json": str(folder / f"{stamp}.json"), "markdown": str(folder / f"{stamp}.md")}
    summary = replace(summary, paths=paths)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        Path(paths["json"]).write_text(json.dumps(summary.to_dict(), indent=2, default=str),
                                       encoding="utf-8")
        Path(paths["markdown"]).write_text(summary.to_markdown(), encoding="utf-8")
    except OSError as exc:
        raise ScheduleError(f"cannot write the retrain summary to {folder}: {exc.strerror}") \
            from exc
    return summary


def _log(summary: RetrainSummary, source: str | Path | None) -> RetrainSummary:
    """The summary as an MLflow run of ``hub-retrain`` (a failure is logged, not raised)."""
    from dataclasses import replace

    try:
        from mlflow.entities import Metric, Param

        from hub_kernel.core.config import get_settings
        from hub_kernel.core.redact import redact_text, secrets_of
        from hub_kernel.models.tracking import ensure_experiment, mlflow_client

        settings = get_settings()
        client = mlflow_client(settings.tracking_uri)
        experiment_id = ensure_experiment(
            client, MLFLOW_EXPERIMENT, tracking_uri=settings.tracking_uri,
            artifacts_dir=settings.artifacts_dir, tags={"hub.kind": "retrain"})
        tags = {"hub.kind": "retrain", "hub.model_name": summary.model,
                "hub.outcome": summary.outcome,
                "hub.explanation": redact_text(summary.reason)[:5000],
                "mlflow.runName": f"{summary.model}: {summary.outcome}"}
        for key, variable in (("hub.job", "HUB_JOB"), ("hub.history_id", "HUB_RUN_ID")):
            if os.environ.get(variable):  # run by the scheduler: link to its run history
                tags[key] = os.environ[variable]
        run = client.create_run(experiment_id, tags=tags)
        run_id = run.info.run_id
        params = {"source": redact_text(str(source), secrets_of({"source": source})),
                  "mode": summary.mode, "batch": str(summary.batch),
                  "time_budget_seconds": str(summary.time_budget_seconds),
                  **{k: str(v) for k, v in summary.thresholds.items()}}
        values = {"duration_seconds": summary.duration_seconds,
                  "drift_share": (summary.drift or {}).get("drift_share"),
                  "p_value": (summary.gate or {}).get("p_value"),
                  "challenger_score": summary.challenger_score,
                  "champion_score": summary.champion_score}
        stamp = int(time.time() * 1000)
        client.log_batch(run_id, params=[Param(k, v[:6000]) for k, v in params.items()],
                         metrics=[Metric(k, float(v), stamp, 0) for k, v in values.items()
                                  if v is not None])
        for path in summary.paths.values():
            client.log_artifact(run_id, path, "summary")
        client.set_terminated(run_id, "FAILED" if summary.outcome == "failed" else "FINISHED")
        return replace(summary, mlflow_run_id=run_id)
    except Exception as exc:
        logger.warning("the retrain summary of %s was not logged to MLflow: %s", summary.model,
                       exc)
        return summary
