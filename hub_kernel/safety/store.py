"""The safety state database, ``$HUB_HOME/safety.db`` (SQLite, WAL).

Autonomy modes, vetoes, versions of layouts and policies, pending proposals, rollouts and agent
failures live here, one table per concept, each created by the module that owns it. It sits
outside every kernel: Voila gives each viewer a fresh kernel, and these must outlive them.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hub_kernel.core.sqlite import connect as open_sqlite
from hub_kernel.core.sqlite import transaction
from hub_kernel.exceptions import SafetyStoreError


def default_path() -> Path:
    from hub_kernel.core.config import get_settings

    return get_settings().home / "safety.db"


@contextmanager
def connect(path: str | os.PathLike[str] | None, schema: str) -> Iterator[sqlite3.Connection]:
    """A connection to the safety database with ``schema`` applied; commits on success.

    Writers take the lock up front (``BEGIN IMMEDIATE``) so read-modify-write sequences from
    two kernels do not interleave.
    """
    target = Path(path) if path is not None else default_path()
    db = open_sqlite(target, what="safety database", error=SafetyStoreError, schema=schema)
    try:
        with transaction(db, what=f"safety database {target}", error=SafetyStoreError):
            yield db
    finally:
        db.close()
