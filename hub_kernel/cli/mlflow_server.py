"""``hub mlflow-server``: start a team's MLflow tracking server on PostgreSQL, serving the
artifacts itself; team members then set the ``HUB_MLFLOW_URI`` it prints."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from hub_kernel.cli.common import console, fail
from hub_kernel.exceptions import HubError


def mlflow_server_command(
    backend_store_uri: Annotated[str, typer.Option(
        "--backend-store-uri", envvar="HUB_MLFLOW_BACKEND_STORE_URI",
        help="PostgreSQL URL of runs and the registry: "
             "postgresql://USER:PASSWORD@HOST:PORT/DATABASE (or set "
             "HUB_MLFLOW_BACKEND_STORE_URI, kept out of the shell history).")],
    artifacts_destination: Annotated[str, typer.Option(
        "--artifacts-destination", help="Folder the server keeps the artifacts in (models, "
                                        "reports); clients upload and download through it.")],
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every "
                                           "interface, for a team).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 5000,
    workers: Annotated[int | None, typer.Option(min=1, help="Server worker processes.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Check and print the command, do not start "
                                               "it.")] = False,
) -> None:
    """Start `mlflow server` for a team: PostgreSQL backend store (checked first), artifacts
    served by the server. Prints the HUB_MLFLOW_URI line team members set."""
    from hub_kernel.models.server import prepare_server

    try:
        plan = prepare_server(backend_store_uri, artifacts_destination, host=host, port=port,
                              workers=workers)
    except HubError as exc:
        fail(exc)
    console.print(f"backend store: {plan.backend.where} answers", markup=False)
    if dry_run:
        console.print(plan.shown(), soft_wrap=True, markup=False)
    console.print(f"team members set: HUB_MLFLOW_URI={plan.client_uri}", soft_wrap=True,
                  markup=False)
    if dry_run:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, plan.argv, {**os.environ, **plan.env})  # noqa: S606 - fixed argv
