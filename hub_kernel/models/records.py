"""What the registry reports: one model in a listing, one version, everything about a model.

Plain frozen records (``ModelRegistry.list_models`` and ``get_model_info`` build them); the
widgets and the CLI read them, ``to_dict`` gives the plain data ``widgets.models`` takes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from hub_kernel.exceptions import ModelError


@dataclass(frozen=True)
class ModelSummary:
    """One registered model, as ``list_models`` shows it."""

    name: str
    latest_version: int | None
    champion: int | None
    challenger: int | None
    primary_metric: str | None
    champion_score: float | None
    archived: bool
    n_versions: int
    task: str | None = None


@dataclass(frozen=True)
class VersionInfo:
    """One registered version: its run, metrics, aliases and data."""

    version: int
    run_id: str | None
    created_at: datetime | None
    aliases: tuple[str, ...]
    status: str  # the registry's status of the version (READY when complete)
    run_status: str | None  # FINISHED, FAILED, KILLED, RUNNING, or None if the run is gone
    metrics: dict[str, float]
    primary_metric: str | None
    score: float | None
    task: str | None
    dataset_fingerprint: str | None
    dataset_id: str | None
    dataset_name: str | None
    target: str | None
    source: str
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def created(self) -> str | None:
        """``created_at`` as ISO text (the shape ``widgets.models`` reads)."""
        return self.created_at.isoformat(timespec="seconds") if self.created_at else None


@dataclass(frozen=True)
class ModelInfo:
    """Everything the registry knows about one model."""

    name: str
    archived: bool
    champion: int | None
    challenger: int | None
    champion_history: tuple[int, ...]
    created_at: datetime | None
    tags: dict[str, str]
    versions: tuple[VersionInfo, ...]

    @property
    def primary_metric(self) -> str | None:
        """The metric the model is judged by (its champion's, else its newest version's)."""
        for v in sorted(self.versions, key=lambda v: (v.version != self.champion, -v.version)):
            if v.primary_metric:
                return v.primary_metric
        return None

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as ``widgets.models.ModelCard`` takes it."""
        return {
            "name": self.name, "archived": self.archived, "champion": self.champion,
            "challenger": self.challenger, "primary_metric": self.primary_metric,
            "champion_history": list(self.champion_history),
            "versions": [{**asdict(v), "created": v.created, "aliases": list(v.aliases),
                          "created_at": v.created} for v in self.versions],
        }

    def version(self, number: int) -> VersionInfo:
        for v in self.versions:
            if v.version == number:
                return v
        raise ModelError(f"model {self.name!r} has no version {number}")
