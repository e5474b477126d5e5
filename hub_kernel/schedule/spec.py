"""What a scheduled job is: its name and what it runs (a notebook, parameters, retry limits).

Shared by the job store (``jobs``), the runner and the daemon; it imports nothing of theirs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from hub_kernel.exceptions import ScheduleError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # fullmatch: "$" would pass "x\n"


def check_job_name(name: str) -> str:
    """A job name: letters, digits, ``_`` and ``-`` (at most 64), starting with one of the first
    two (it names a folder under ``$HUB_HOME/runs``)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ScheduleError(
            f"invalid job name {name!r}: use letters, digits, '_' and '-' (at most 64 "
            "characters, starting with a letter or digit)"
        )
    return name


@dataclass(frozen=True)
class JobSpec:
    """What a job runs: a notebook with parameters, retried ``retries`` times (default
    ``HUB_SCHEDULER_RETRY_LIMIT``) after waits starting at ``backoff`` seconds, each cell
    limited to ``timeout`` seconds (default ``HUB_RUN_TIMEOUT_SECONDS``)."""

    name: str
    notebook: str
    parameters: dict[str, Any] = field(default_factory=dict)
    retries: int | None = None
    backoff: float | None = None
    timeout: float | None = None
    schedule: str = ""

    def to_kwargs(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> JobSpec:
        known = {k: v for k, v in kwargs.items() if k in cls.__dataclass_fields__}
        return cls(**known)
