"""The ``hub`` command."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from hub_kernel import __version__
from hub_kernel.cli import controls as controls_cli
from hub_kernel.cli.agents import app as agents_app
from hub_kernel.cli.analyze import analyze_command
from hub_kernel.cli.audit import app as audit_app
from hub_kernel.cli.common import command_group, console, err_console, fail
from hub_kernel.cli.mlflow_server import mlflow_server_command
from hub_kernel.cli.models import app as models_app
from hub_kernel.cli.models import mlflow_ui_command, train_command
from hub_kernel.cli.plan import feedback_command, plan_command
from hub_kernel.cli.reports import report_command
from hub_kernel.cli.rollout import app as rollout_app
from hub_kernel.cli.schedule import app as schedule_app
from hub_kernel.cli.schedule import scheduler_app, status_command
from hub_kernel.cli.stream import app as stream_app
from hub_kernel.cli.upkeep import backup_command, prune_command, restore_command
from hub_kernel.cli.users import app as users_app
from hub_kernel.core import config
from hub_kernel.exceptions import HubError

app = command_group("hub: Jupyter-first analytics whose agents arrange live dashboards.",
                    name="hub")
app.add_typer(stream_app, name="stream", help="Live streams (WebSocket, Redis Streams).")
app.add_typer(models_app, name="models",
              help="Registered models: list, show, promote, roll back, archive.")
app.add_typer(audit_app, name="audit",
              help="The audit log of decisions: list, filter, export, verify.")
app.add_typer(controls_cli.mode_app, name="mode",
              help="Autonomy modes per user and dashboard: show, set.")
app.add_typer(controls_cli.veto_app, name="veto", help="Forbid agents an action kind.")
app.add_typer(controls_cli.proposals_app, name="proposals",
              help="Agent proposals waiting for approval: list, approve, reject.")
app.add_typer(controls_cli.rollback_app, name="rollback",
              help="Restore an earlier layout, model champion or policy exactly.")
app.add_typer(schedule_app, name="schedule",
              help="Scheduled notebooks: add, list, remove, run now, run history.")
app.add_typer(scheduler_app, name="scheduler", help="The scheduler process: start, stop.")
app.add_typer(rollout_app, name="rollout", help="Gradual rollout of policy versions.")
app.add_typer(users_app, name="users",
              help="Who may open a served dashboard (hub serve --auth users): add, list, "
                   "revoke.")
app.command("status")(status_command)
app.add_typer(agents_app, name="agents",
              help="Offline training of the agents: pretrain the layout policy.")
app.command("train")(train_command)
app.command("mlflow-ui")(mlflow_ui_command)
app.command("mlflow-server")(mlflow_server_command)
app.command("report")(report_command)
app.command("analyze")(analyze_command)
app.command("plan")(plan_command)
app.command("feedback")(feedback_command)
app.command("backup")(backup_command)
app.command("restore")(restore_command)
app.command("prune")(prune_command)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
) -> None:
    # mlflow draws a progress bar for every artifact it fetches; noise in a command's output
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        settings = config.reload_settings()
    except HubError as exc:
        fail(exc, soft_wrap=False)
    logging.basicConfig(
        level=logging.DEBUG if verbose else settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def version() -> None:
    """Print hub's version."""
    console.print(__version__)


Auth = Annotated[str | None, typer.Option(
    "--auth", help="Who may view: token (default: a fresh one-time login link per start), "
                   "users (tokens from `hub users add`), header (a name set by an "
                   "authenticating proxy), none (no login; loopback only).")]
AuthHeader = Annotated[str | None, typer.Option(
    "--auth-header", help="With --auth header: the header naming the user (default "
                          "X-Forwarded-User).")]


@app.command()
def serve(
    notebook: Annotated[Path, typer.Argument(help="Notebook to serve as a dashboard.")],
    port: Annotated[int | None, typer.Option(help="Port (default HUB_SERVE_PORT, 8866).")] = None,
    ip: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    token: Annotated[str | None, typer.Option(
        help="Access token; required off loopback (generated when not given).",
        envvar="HUB_SERVE_TOKEN")] = None,
    dataset: Annotated[Path | None, typer.Option(help="Dataset the dashboard opens.")] = None,
    stream: Annotated[str | None, typer.Option(
        help="A stream of JSON rows to show as a live tile: ws://..., "
             "redis://:password@host:port/db/stream?group=G (password, port, db "
             "optional), or 'demo' (the sample "
             "replayed).")] = None,
    allow_host: Annotated[list[str] | None, typer.Option(
        "--allow-host", help="A host name the server answers to besides its address "
                             "(repeatable; a page under any other name is refused).")] = None,
    preheat: Annotated[bool | None, typer.Option(
        "--preheat/--no-preheat",
        help="Keep a kernel that already ran the notebook ready (default HUB_SERVE_PREHEAT).")
    ] = None,
    auth: Auth = None,
    auth_header: AuthHeader = None,
    dry_run: Annotated[bool, typer.Option(help="Print the command, do not start it.")] = False,
) -> None:
    """Serve NOTEBOOK with Voila (on loopback unless given --ip; always behind a login unless
    --auth none on loopback)."""
    from hub_kernel import serve as serving

    try:
        plan = serving.plan_serve(notebook, ip=ip, port=port, token=token, dataset=dataset,
                                  preheat=preheat, stream=stream,
                                  allow_hosts=tuple(allow_host or ()), auth=auth,
                                  auth_header=auth_header)
    except HubError as exc:
        fail(exc, soft_wrap=False)
    _announce(plan, dry_run)
    if not dry_run:
        serving.serve(plan)


@app.command()
def demo(
    port: Annotated[int | None, typer.Option(help="Port (default 8866).")] = None,
    dataset: Annotated[
        Path | None, typer.Option(help="A CSV/Parquet file instead of the sample.")
    ] = None,
    stream: Annotated[str | None, typer.Option(
        help="A stream of JSON rows to show as a live tile: ws://..., "
             "redis://:password@host:port/db/stream?group=G (password, port, db "
             "optional), or 'demo' (the sample "
             "replayed).")] = None,
    allow_host: Annotated[list[str] | None, typer.Option(
        "--allow-host", help="A host name the server answers to besides its address "
                             "(repeatable; a page under any other name is refused).")] = None,
    preheat: Annotated[bool | None, typer.Option(
        "--preheat/--no-preheat",
        help="Keep a kernel that already ran the notebook ready (default HUB_SERVE_PREHEAT).")
    ] = None,
    auth: Auth = None,
    auth_header: AuthHeader = None,
    dry_run: Annotated[bool, typer.Option(help="Print the command, do not start it.")] = False,
) -> None:
    """Serve the dashboard notebook on 127.0.0.1 over the bundled sample dataset."""
    from hub_kernel import serve as serving
    from hub_kernel.core.paths import repo_notebook
    from hub_kernel.exceptions import ServeError

    try:
        notebook = repo_notebook("dashboard.ipynb", error=ServeError)
        plan = serving.plan_serve(notebook, ip="127.0.0.1", port=port, dataset=dataset,
                                  preheat=preheat, stream=stream,
                                  allow_hosts=tuple(allow_host or ()), auth=auth,
                                  auth_header=auth_header)
    except HubError as exc:
        fail(exc, soft_wrap=False)
    _announce(plan, dry_run)
    if not dry_run:
        serving.serve(plan)


def _announce(plan, dry_run: bool) -> None:
    if dry_run:
        console.print(" ".join(plan.argv), soft_wrap=True, markup=False)
    console.print(f"Dashboard: {plan.url}", soft_wrap=True, markup=False)
    if plan.login_url:
        console.print("[bold]Log in with this link[/] (it works once; the browser then keeps a "
                      "login cookie until the server stops):")
        console.print(f"Login link: {plan.login_url}", soft_wrap=True, markup=False)
    elif plan.auth == "users":
        console.print("Viewers log in at the dashboard's /hub/login with the token "
                      "`hub users add NAME` gave them.", markup=False)
    elif plan.auth == "header":
        console.print(f"Trusting the {plan.auth_header} header of an authenticating proxy: "
                      "requests without it are refused. Let only the proxy reach this "
                      "address.", markup=False)
    else:
        console.print("[bold]No login[/] (--auth none): anyone who can reach this address "
                      "on this machine can open the dashboard.")


@app.command()
def ingest(
    path: Annotated[str, typer.Argument(help="File path or http(s) URL to ingest.")],
    sheet: Annotated[str | None, typer.Option(help="Excel sheet name or index.")] = None,
    schema: Annotated[Path | None, typer.Option(
        help="A pandera schema (JSON/YAML) to declare for this dataset and check.")] = None,
    name: Annotated[str | None, typer.Option(help="Dataset name (default: file name).")] = None,
    save_schema: Annotated[bool, typer.Option(
        help="Declare this batch's column types as the dataset's schema.")] = False,
) -> None:
    """Ingest PATH into the catalog and print its validation report.

    Exits 1 when the input cannot be read (nothing is stored) and 2 when the data was stored
    but breaks the dataset's declared schema.
    """
    from hub_kernel.data.catalog import Catalog
    from hub_kernel.data.validation import infer_schema

    catalog = Catalog()
    sheet_arg: str | int | None = int(sheet) if sheet is not None and sheet.isdigit() else sheet
    try:
        result = catalog.ingest(path, name=name, sheet=sheet_arg, schema=schema)
        if save_schema:
            catalog.declare_schema(result.record.name,
                                   infer_schema(catalog.load(result.record.id)))
    except HubError as exc:
        fail(exc, soft_wrap=False)
    record, report = result.record, result.report
    verb = ("already in the catalog as" if not result.created else
            "registered as" if record.reference else "stored as")
    console.print(f"{escape(record.name)}: {verb} [bold]{record.id}[/] "
                  f"({record.n_rows:,} rows × {record.n_columns:,} columns)")
    if record.reference:
        console.print(f"registered by reference: {escape(record.reference['path'])} (not "
                      "copied; its files are fingerprinted and checked when it is opened)",
                      soft_wrap=True)
    if record.source_info:
        details = ", ".join(f"{k}={v}" for k, v in record.source_info.items())
        console.print(f"read with {escape(details)}", markup=True)
    table = Table(title=escape(report.summary()))
    for column in ("severity", "check", "column", "problem", "examples"):
        table.add_column(column, overflow="fold")
    colours = {"error": "red", "warning": "yellow", "info": "blue"}
    for issue in report.issues:
        table.add_row(f"[{colours[issue.severity]}]{issue.severity}[/]", issue.check,
                      escape(issue.column or ""), escape(issue.message),
                      escape(", ".join(issue.examples)))
    if report.issues:
        console.print(table)
    else:
        console.print("[green]no problems found[/]")
    if save_schema:
        console.print(f"declared the schema of {escape(record.name)} from this batch")
    if not report.ok:
        err_console.print(f"[bold red]{len(report.errors)} schema error(s)[/]: the batch is "
                          "stored but marked invalid")
        raise typer.Exit(2)


@app.command()
def doctor(
    strict: Annotated[bool, typer.Option(help="Treat warnings as failures.")] = False,
) -> None:
    """Check that hub can run here: versions, HUB_HOME, a kernel, MLflow, a browser."""
    from hub_kernel.doctor import run_checks

    results = run_checks(config.get_settings())
    table = Table(title=f"hub {__version__} doctor")
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    colours = {"ok": "green", "warn": "yellow", "fail": "red"}
    for check in results:
        status = f"[{colours[check.status]}]{check.status}[/]"
        table.add_row(check.name, status, escape(check.detail))
    console.print(table)
    bad = [c for c in results if c.status == "fail" or (strict and c.status == "warn")]
    if bad:
        err_console.print(f"[bold red]{len(bad)} problem(s):[/]")
        for check in bad:
            err_console.print(f"- {check.name}: {escape(check.detail)}")
        raise typer.Exit(1)
    console.print("[green]all good[/]")


def main() -> None:
    app()


