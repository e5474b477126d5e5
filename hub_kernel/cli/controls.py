"""``hub mode``, ``hub veto``, ``hub proposals`` and ``hub rollback``: people stay in control."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from hub_kernel.cli.common import Board, By, User, command_group, console, fail, me
from hub_kernel.exceptions import HubError

mode_app = command_group()
veto_app = command_group()
proposals_app = command_group()
rollback_app = command_group()


# -- modes -------------------------------------------------------------------------------------
@mode_app.command("show")
def mode_show(user: User = None, dashboard: Board = None) -> None:
    """The mode in force for USER on DASHBOARD, and every mode that was set."""
    from hub_kernel.safety.modes import Controls

    controls = Controls()
    try:
        current = controls.mode(user=user, dashboard=dashboard)
        rows = controls.modes()
    except HubError as exc:
        fail(exc, soft_wrap=False)
    console.print(f"mode in force for user {escape(user or '*')} on dashboard "
                  f"{escape(dashboard or '*')}: [bold]{current}[/]")
    if rows:
        table = Table()
        for column in ("user", "dashboard", "mode", "set by", "time"):
            table.add_column(column)
        for r in rows:
            table.add_row(escape(r.user), escape(r.dashboard), r.mode, escape(r.set_by), r.time)
        console.print(table)


@mode_app.command("set")
def mode_set(mode: Annotated[str, typer.Argument(help="assisted, supervised or autonomous")],
             user: User = None, dashboard: Board = None, by: By = None) -> None:
    """Set the autonomy mode (audited); the most specific scope wins."""
    from hub_kernel.safety.modes import Controls

    try:
        setting = Controls().set_mode(mode, user=user, dashboard=dashboard, set_by=me(by))
    except HubError as exc:
        fail(exc, soft_wrap=False)
    console.print(f"mode for user {escape(setting.user)} on dashboard "
                  f"{escape(setting.dashboard)}: [bold]{setting.mode}[/]")


# -- vetoes ------------------------------------------------------------------------------------
@veto_app.command("add")
def veto_add(kind: Annotated[str, typer.Argument(help="move, resize, chart_type, add, remove")],
             user: User = None, dashboard: Board = None, by: By = None) -> None:
    """Forbid agents an action kind."""
    from hub_kernel.safety.modes import Controls

    try:
        Controls().veto(kind, user=user, dashboard=dashboard, set_by=me(by))
    except HubError as exc:
        fail(exc, soft_wrap=False)
    console.print(f"agents may no longer {escape(kind)} tiles")


@veto_app.command("remove")
def veto_remove(kind: str, user: User = None, dashboard: Board = None, by: By = None) -> None:
    """Lift a veto."""
    from hub_kernel.safety.modes import Controls

    try:
        Controls().allow(kind, user=user, dashboard=dashboard, set_by=me(by))
    except HubError as exc:
        fail(exc, soft_wrap=False)
    console.print(f"agents may {escape(kind)} tiles again")


@veto_app.command("list")
def veto_list(user: User = None, dashboard: Board = None) -> None:
    """Action kinds forbidden for USER on DASHBOARD."""
    from hub_kernel.safety.modes import Controls

    try:
        kinds = Controls().vetoed(user=user, dashboard=dashboard)
    except HubError as exc:
        fail(exc, soft_wrap=False)
    console.print(", ".join(sorted(kinds)) or "no vetoes")


# -- proposals ---------------------------------------------------------------------------------
def _governor(key: str):
    from hub_kernel.layout import Layout
    from hub_kernel.safety.governor import LayoutGovernor, ProposalError
    from hub_kernel.safety.versions import VersionStore

    user, _, dashboard = key.partition("/")
    latest = VersionStore().latest("layout", key)
    if latest is None or not dashboard:
        raise ProposalError(f"no stored layout for {key!r}; keys look like USER/DASHBOARD")
    return LayoutGovernor(Layout.from_dict(latest.payload), user=user, dashboard=dashboard)


@proposals_app.command("list")
def proposals_list(
    all_: Annotated[bool, typer.Option("--all", help="Decided ones too.")] = False,
) -> None:
    """Agent proposals waiting for approval (assisted mode)."""
    from hub_kernel.safety.governor import list_proposals

    try:
        items = [p for p in list_proposals() if all_ or p.status == "pending"]
    except HubError as exc:
        fail(exc, soft_wrap=False)
    if not items:
        console.print("no pending proposals")
        return
    table = Table()
    for column in ("id", "dashboard", "time", "agent", "status", "why"):
        table.add_column(column, overflow="fold")
    for p in items:
        table.add_row(str(p.id), escape(p.key), p.time, escape(p.agent), p.status,
                      escape(p.proposal.why()))
    console.print(table)


def _decide(proposal_id: int, by: str | None, approve: bool) -> None:
    from hub_kernel.safety.governor import ProposalError, list_proposals

    try:
        found = [p for p in list_proposals() if p.id == proposal_id]
        if not found:
            raise ProposalError(f"no proposal {proposal_id}; `hub proposals list` shows them")
        from hub_kernel.safety.users import cli_is_operator

        governor = _governor(found[0].key)
        # the owner of HUB_HOME decides as an operator; anyone else only their own proposals
        decision = (governor.approve if approve else governor.reject)(
            proposal_id, by=me(by), operator=cli_is_operator())
        governor.close()
    except HubError as exc:
        fail(exc, soft_wrap=False)
    console.print(f"proposal {proposal_id} {decision.status}: {escape(decision.summary)}")
    if approve:
        console.print("open dashboards show it on their next round or reload")


@proposals_app.command("approve")
def proposals_approve(proposal_id: int, by: By = None) -> None:
    """Apply a pending proposal to the stored layout."""
    _decide(proposal_id, by, approve=True)


@proposals_app.command("reject")
def proposals_reject(proposal_id: int, by: By = None) -> None:
    """Drop a pending proposal (the agent learns it was not wanted)."""
    _decide(proposal_id, by, approve=False)


# -- rollback ----------------------------------------------------------------------------------
def _history_table(versions) -> Table:
    table = Table()
    for column in ("version", "time", "by", "why"):
        table.add_column(column, overflow="fold")
    for v in versions:
        why = v.reason + (f" (copy of v{v.restored_from})" if v.restored_from else "")
        table.add_row(str(v.version), v.time[:19], escape(v.author), escape(why))
    return table


@rollback_app.command("layout")
def rollback_layout(
    key: Annotated[str, typer.Argument(help="USER/DASHBOARD, as `--list` or the audit shows.")],
    to: Annotated[int | None, typer.Option(help="Version to restore (default: the previous).")]
    = None,
    list_: Annotated[bool, typer.Option("--list", help="Show the versions, change nothing.")]
    = False,
    by: By = None,
) -> None:
    """Restore an earlier layout exactly (as a new version: nothing is lost)."""
    from hub_kernel.safety.versions import VersionStore

    try:
        history = VersionStore().history("layout", key)
        if list_ or not history:
            if not history:
                keys = ", ".join(VersionStore().keys("layout")) or "none yet"
                console.print(f"no layouts stored for {escape(key)}; known: {escape(keys)}")
            else:
                console.print(_history_table(history))
            return
        target = to if to is not None else (history[-2].version if len(history) > 1 else None)
        if target is None:
            console.print("only one version exists; nothing to roll back to")
            raise typer.Exit(1)
        governor = _governor(key)
        decision = governor.restore(target, by=me(by))
        governor.close()
    except HubError as exc:
        fail(exc, soft_wrap=False)
    console.print(f"layout {escape(key)} restored to version {target} "
                  f"(now version {decision.version})")


@rollback_app.command("model")
def rollback_model(
    name: str,
    to: Annotated[int | None, typer.Option(help="Version to make champion (default: the "
                                                "previous champion).")] = None,
    by: By = None,
) -> None:
    """Make an earlier version the champion again (audited; versions are never deleted)."""
    from hub_kernel.models.registry import ModelRegistry

    registry = ModelRegistry()
    try:
        if to is None:
            summary = registry.rollback(name, approved_by=me(by))
        else:
            summary = registry.promote(name, to, override=True, approved_by=me(by),
                                       reason=f"rolled back to version {to} by {me(by)}")
    except HubError as exc:
        fail(exc, soft_wrap=False)
    console.print(f"{escape(name)}: champion is version {summary.champion}")


@rollback_app.command("policy")
def rollback_policy(
    name: str,
    to: Annotated[int | None, typer.Option(help="Version to restore.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="Show the versions.")] = False,
    by: By = None,
) -> None:
    """Put an earlier version of an agent's policy back in force."""
    from hub_kernel.safety.rollout import Rollout
    from hub_kernel.safety.versions import VersionStore

    store = VersionStore()
    try:
        history = store.history("policy", name)
        if list_ or to is None:
            console.print(_history_table(history) if history
                          else f"no versions of policy {escape(name)}")
            return
        Rollout(name).put_in_force(to, author=me(by))
    except HubError as exc:
        fail(exc, soft_wrap=False)
    console.print(f"policy {escape(name)}: version {to} serves every session again")
