"""``hub backup DEST``, ``hub restore SRC`` and ``hub prune``: copies of HUB_HOME, and retention."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hub_kernel.cli.common import console, fail
from hub_kernel.exceptions import HubError


def backup_command(
    dest: Annotated[Path, typer.Argument(help="A new folder for the copy.")],
) -> None:
    """Copy HUB_HOME to DEST while servers, streams and trainings run: every database through
    SQLite's online backup, then MLflow's artifacts and the catalog, with a checksum manifest."""
    from hub_kernel.backup import backup

    try:
        report = backup(dest)
    except HubError as exc:
        fail(exc)
    console.print(report.summary(), soft_wrap=True, markup=False)


def restore_command(
    src: Annotated[Path, typer.Argument(help="A folder made by `hub backup`.")],
) -> None:
    """Bring the backup SRC back into HUB_HOME, which must be empty or absent; checksums are
    checked first and the audit log is verified after."""
    from hub_kernel.backup import restore

    try:
        report = restore(src)
    except HubError as exc:
        fail(exc)
    console.print(report.summary(), soft_wrap=True, markup=False)
    if report.audit and not report.audit.startswith("intact"):
        raise typer.Exit(1)


def prune_command(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, remove nothing.")] = False,
) -> None:
    """Remove what the retention settings let go, oldest first: events
    (HUB_RETAIN_EVENTS_DAYS), stream rows (HUB_RETAIN_STREAM_ROWS) and scheduled runs
    (HUB_RETAIN_RUNS_DAYS). Model versions and the audit log are never pruned."""
    from hub_kernel.retention import prune

    try:
        report = prune(dry_run=dry_run)
    except HubError as exc:
        fail(exc)
    console.print(report.summary(), soft_wrap=True, markup=False)
