"""``hub rollout``: roll a policy version out to a fraction of sessions, watch, finish."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from hub_kernel.cli.common import By, command_group, console, fail, me
from hub_kernel.exceptions import HubError

if TYPE_CHECKING:
    from hub_kernel.safety.rollout import RolloutStatus

app = command_group()

Name = Annotated[str, typer.Argument(help="The policy's name (its key in the version store).")]
def _mean(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _show(status: RolloutStatus) -> None:
    from hub_kernel.safety.rollout import percent

    console.print(f"policy {escape(status.name)}: [bold]{status.state}[/], version in force: "
                  f"{'-' if status.in_force is None else f'v{status.in_force}'}")
    if status.state == "none":
        console.print(escape(status.decision))
        return
    console.print(f"rollout {status.rollout_id}: v{status.baseline} -> v{status.candidate} "
                  f"at {percent(status.fraction or 0)} of sessions "
                  f"(threshold {status.threshold:g}, "
                  f"min {status.min_sessions} sessions per arm, alpha {status.alpha:g}"
                  f"{', completes itself' if status.auto_complete else ''})")
    table = Table()
    for column in ("arm", "version", "sessions", "mean reward"):
        table.add_column(column)
    table.add_row("baseline", f"v{status.baseline}", str(status.baseline_n),
                  _mean(status.baseline_mean))
    table.add_row("candidate", f"v{status.candidate}", str(status.candidate_n),
                  _mean(status.candidate_mean))
    console.print(table)
    if status.decision:
        console.print(escape(status.decision), soft_wrap=True)


@app.command("start")
def start(
    name: Name,
    version: Annotated[int, typer.Argument(help="The policy version to roll out.")],
    fraction: Annotated[float | None, typer.Option(
        help="Share of sessions it serves (default HUB_ROLLOUT_FRACTION, 0.1).")] = None,
    threshold: Annotated[float | None, typer.Option(
        help="Drop of mean reward that rolls it back (default HUB_ROLLOUT_THRESHOLD).")] = None,
    min_sessions: Annotated[int | None, typer.Option(
        help="Sessions per arm before judging (default HUB_ROLLOUT_MIN_SESSIONS).")] = None,
    auto_complete: Annotated[bool, typer.Option(
        help="Put it in force by itself once it is credibly not worse.")] = False,
    by: By = None,
) -> None:
    """Serve VERSION of policy NAME to a fraction of sessions; roll back if it does worse."""
    from hub_kernel.safety.rollout import Rollout

    try:
        status = Rollout(name).start(version, fraction=fraction, threshold=threshold,
                                     min_sessions=min_sessions, auto_complete=auto_complete,
                                     author=me(by))
    except HubError as exc:
        fail(exc, soft_wrap=False)
    _show(status)


@app.command("status")
def status(name: Name) -> None:
    """Where the newest rollout of policy NAME stands: arms, means, decision."""
    from hub_kernel.safety.rollout import Rollout

    try:
        current = Rollout(name).status()
    except HubError as exc:
        fail(exc, soft_wrap=False)
    _show(current)


@app.command("complete")
def complete(name: Name, by: By = None) -> None:
    """Put the candidate of the running rollout in force for every session (audited)."""
    from hub_kernel.safety.rollout import Rollout

    try:
        current = Rollout(name).complete(me(by))
    except HubError as exc:
        fail(exc, soft_wrap=False)
    _show(current)


@app.command("stop")
def stop(name: Name, by: By = None) -> None:
    """End the running rollout and keep the baseline in force for every session (audited)."""
    from hub_kernel.safety.rollout import Rollout

    try:
        current = Rollout(name).stop(me(by))
    except HubError as exc:
        fail(exc, soft_wrap=False)
    _show(current)
