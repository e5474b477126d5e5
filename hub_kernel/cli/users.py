"""``hub users``: who may open a dashboard served with ``hub serve --auth users``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from hub_kernel.cli.common import command_group, console, err_console, fail
from hub_kernel.exceptions import HubError

app = command_group()

Name = Annotated[str, typer.Argument(help="The user's name (letters, digits, _ . @ -).")]


@app.command("add")
def users_add(name: Name, operator: Annotated[bool, typer.Option(
        "--operator", help="May decide anyone's proposals and set modes for others from the "
                           "page.")] = False) -> None:
    """Issue a login token for NAME (printed once; only its hash is kept)."""
    from hub_kernel.safety.users import UserStore

    try:
        user, token = UserStore().add(name, operator=operator)
    except HubError as exc:
        fail(exc, soft_wrap=False)
    console.print(f"added {escape(user.name)} ({user.role})")
    err_console.print("[bold]The token is shown this once[/]; hand it to "
                      f"{escape(user.name)} privately. They log in at the server's "
                      "/hub/login page (or open /hub/login?token=TOKEN once).")
    console.print(token, markup=False, soft_wrap=True)


@app.command("list")
def users_list() -> None:
    """Every user: name, role, when added, when revoked (never tokens)."""
    from hub_kernel.safety.users import UserStore

    try:
        users = UserStore().users()
    except HubError as exc:
        fail(exc, soft_wrap=False)
    if not users:
        console.print("no users; `hub users add NAME` issues a token")
        return
    table = Table()
    for column in ("name", "role", "created", "revoked"):
        table.add_column(column)
    for user in users:
        table.add_row(escape(user.name), user.role, user.created, user.revoked or "")
    console.print(table)


@app.command("revoke")
def users_revoke(name: Name) -> None:
    """Revoke NAME's token: refused by a running server from its next request on."""
    from hub_kernel.safety.users import UserStore

    try:
        user = UserStore().revoke(name)
    except HubError as exc:
        fail(exc, soft_wrap=False)
    console.print(f"revoked {escape(user.name)}")
