"""What ``hub status`` and ``hub doctor`` report: the scheduler, the jobs, the champions' drift.

The drift status of a champion compares the newest batch of its dataset with the batch it was
trained on, as the retrain policy does (features, predictions, decay on labelled rows), without
training or logging anything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from hub_kernel.schedule.daemon import SchedulerState, scheduler_state
from hub_kernel.schedule.history import RunHistory, RunRecord

if TYPE_CHECKING:
    from hub_kernel.core.config import Settings
    from hub_kernel.models.registry import ModelRegistry

logger = logging.getLogger("hub_kernel")

DriftStatus = Literal["stable", "drifted", "current", "unknown"]


@dataclass(frozen=True)
class JobStatus:
    """One scheduled job: when it runs next and how its last run went."""

    name: str
    schedule: str
    notebook: str
    next_run: datetime | None
    last: RunRecord | None


@dataclass(frozen=True)
class ChampionDrift:
    """Whether a champion's newest data drifted from what it was trained on."""

    model: str
    champion: int
    status: DriftStatus
    detail: str
    batch: str | None = None


@dataclass(frozen=True)
class Status:
    scheduler: SchedulerState
    jobs: list[JobStatus]
    champions: list[ChampionDrift] = field(default_factory=list)
    recent: list[RunRecord] = field(default_factory=list)


def job_statuses(settings: Settings | None = None) -> list[JobStatus]:
    """Every stored job with its next run time and its newest run."""
    from hub_kernel.core.redact import secrets_of
    from hub_kernel.schedule.jobs import JobStore

    jobs = JobStore(settings).list()
    history = RunHistory()
    # runs whose process died show as failed, not running (their credentials removed)
    history.recover_stale(secrets={job.name: secrets_of(job.spec.parameters) for job in jobs})
    last = history.last_runs()
    return [JobStatus(job.name, job.schedule, job.spec.notebook, job.next_run,
                      last.get(job.name)) for job in jobs]


def champion_drift(registry: ModelRegistry | None = None) -> list[ChampionDrift]:
    """The drift status of every (non-archived) model's champion."""
    from hub_kernel.models.registry import ModelRegistry

    registry = registry or ModelRegistry()
    found = []
    for summary in registry.list_models():
        if summary.champion is None:
            continue
        try:
            found.append(_one(registry, summary.name, summary.champion))
        except Exception as exc:  # one model's problem is reported, not raised
            logger.warning("drift status of %s unavailable: %s", summary.name, exc)
            found.append(ChampionDrift(summary.name, summary.champion, "unknown", str(exc)))
    return found


def _one(registry: ModelRegistry, name: str, champion: int) -> ChampionDrift:
    from hub_kernel.data.catalog import Catalog
    from hub_kernel.models.lifecycle.policy import model_drift, model_features

    base = registry.get_model_info(name).version(champion)
    key = base.dataset_name or base.dataset_id
    if not key or not base.dataset_id:
        return ChampionDrift(name, champion, "unknown",
                             "trained from an in-memory table: no dataset to compare")
    catalog = Catalog()
    newest = catalog.get(key)
    if newest.id == base.dataset_id:
        return ChampionDrift(name, champion, "current",
                             f"no new batch since version {champion} was trained", newest.id)
    reference, current = catalog.load(base.dataset_id), catalog.load(newest.id)
    model = registry.load_model(name, version=champion)
    features = model_features(model, reference)
    missing = [c for c in features if c not in current.columns]
    if missing:
        return ChampionDrift(name, champion, "drifted",
                             f"the newest batch lacks the model's columns {missing}", newest.id)
    report = model_drift(model, base, reference, current, features)
    return ChampionDrift(name, champion, "drifted" if report.should_retrain else "stable",
                         report.explanation, newest.id)


def status(settings: Settings | None = None, *, drift: bool = True,
           recent: int = 10) -> Status:
    """Everything ``hub status`` shows."""
    return Status(
        scheduler=scheduler_state(settings),
        jobs=job_statuses(settings),
        champions=champion_drift() if drift else [],
        recent=RunHistory().runs(limit=recent),
    )
