"""What every command group of the ``hub`` CLI shares: the consoles, failing with one line, the
Typer app settings, and the ``--user`` / ``--dashboard`` / ``--by`` options.

A hub error is printed as one line on stderr (``error: ...``) and the command exits 1, without a
traceback.
"""

from __future__ import annotations

import getpass
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from hub_kernel.exceptions import HubError

console = Console()
err_console = Console(stderr=True)

User = Annotated[str | None, typer.Option(help="Only this user (default: everyone).")]
Board = Annotated[str | None, typer.Option("--dashboard", help="Only this dashboard id.")]
By = Annotated[str | None, typer.Option("--by", help="Who decides (default: your login).")]


def command_group(help: str | None = None, *, no_args_is_help: bool = True,
                  **options: object) -> typer.Typer:
    """A Typer app for a command group: no shell completion, no rich tracebacks."""
    if help is not None:  # unset, Typer falls back to the callback's docstring
        options["help"] = help
    return typer.Typer(no_args_is_help=no_args_is_help, add_completion=False,
                       pretty_exceptions_enable=False, **options)  # type: ignore[arg-type]


def fail(exc: HubError | str, *, soft_wrap: bool = True) -> NoReturn:
    """Print ``exc`` as ``error: ...`` on stderr and exit 1 (no traceback).

    ``soft_wrap=False`` lets rich break a long message at the terminal's width (what the
    controls, agents and audit commands have always printed).
    """
    err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=soft_wrap)
    raise typer.Exit(1)


def me(by: str | None) -> str:
    """Who decides: ``--by`` or the login name."""
    return by or getpass.getuser()
