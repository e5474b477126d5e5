"""``hub audit``: read, filter, export and verify the audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from hub_kernel.cli.common import command_group, console, err_console, fail
from hub_kernel.exceptions import HubError

app = command_group(no_args_is_help=False)


@app.callback(invoke_without_command=True)
def list_entries(
    ctx: typer.Context,
    agent: Annotated[str | None, typer.Option(help="Only this agent (e.g. ab_gate).")] = None,
    action: Annotated[str | None, typer.Option(help="Actions containing this text.")] = None,
    since: Annotated[str | None, typer.Option(help="From this time (ISO 8601, UTC).")] = None,
    limit: Annotated[int, typer.Option(help="The newest N rows.")] = 50,
    csv: Annotated[Path | None, typer.Option(help="Export every row to this CSV file.")] = None,
) -> None:
    """List the decisions in the audit log, newest last: who did what, in which mode, why."""
    if ctx.invoked_subcommand is not None:
        return
    from hub_kernel.safety.audit import AuditLog

    log = AuditLog()
    try:
        if csv is not None:
            console.print(f"exported to {log.export_csv(csv)}")
            return
        rows = log.entries(agent=agent, action=action, since=since, limit=limit)
    except HubError as exc:
        fail(exc, soft_wrap=False)
    if not rows:
        console.print(f"no audit entries in {log.path}")
        return
    table = Table(title=f"audit log {log.path}")
    for column in ("id", "time", "agent", "mode", "action", "approved by", "why"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(str(row.id), row.time[:19], escape(row.agent), escape(row.mode or ""),
                      escape(row.action), escape(row.approved_by or ""),
                      escape(row.explanation))
    console.print(table)


@app.command()
def verify() -> None:
    """Check the hash chain: exits 1 naming the first row that was changed or removed."""
    from hub_kernel.safety.audit import AuditLog

    try:
        result = AuditLog().verify()
    except HubError as exc:
        fail(exc, soft_wrap=False)
    if not result.ok:
        err_console.print(f"[bold red]audit log tampered:[/] {escape(result.reason)}")
        raise typer.Exit(1)
    console.print(f"[green]audit log intact[/]: {result.n_rows} rows, hash chain verified")
