"""``hub plan`` and ``hub feedback``: what the agents would show a viewer, and feedback
recorded from outside the page (for replaying feedback collected elsewhere)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from hub_kernel.cli.common import console, fail
from hub_kernel.exceptions import HubError

if TYPE_CHECKING:
    from hub_kernel.agents.plan import Plan

#: tile id of events about the whole dashboard rather than one tile
DASHBOARD_TILE = "dashboard"

Dataset = Annotated[Path, typer.Argument(help="A CSV, Excel, JSON/JSONL or Parquet file.")]
Viewer = Annotated[str | None, typer.Option("--user", help="The viewer (default: HUB_USER, "
                                                           "else your login).")]
Target = Annotated[str | None, typer.Option("--target", help="The column to predict.")]


def _plan(dataset: Path, user: str | None, target: str | None) -> tuple[Any, Plan, Any]:
    from hub_kernel.agents.controller import MetaController
    from hub_kernel.agents.plan import dashboard_id
    from hub_kernel.core.config import get_settings
    from hub_kernel.data import load_dataset, profile_dataset

    frame = load_dataset(dataset)
    if target is not None and target not in frame.columns:
        raise HubError(f"{dataset}: no column {target!r} to use as the target; columns: "
                       f"{', '.join(map(str, frame.columns[:20]))}")
    profile = profile_dataset(frame)
    controller = MetaController()
    plan = controller.plan(profile, user=user or get_settings().user,
                           dashboard=dashboard_id(frame, target), target=target)
    return controller, plan, profile


def plan_command(dataset: Dataset, user: Viewer = None, target: Target = None,
                 as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
                 ) -> None:
    """Print what the agents would show now: per tile its kind, analysis, columns, chart
    type, slot, size, the deciding agent, the decision id, its propensity and why."""
    try:
        _controller, plan, _profile = _plan(dataset, user, target)
    except HubError as exc:
        fail(exc)
    data = plan.to_dict()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table(title=f"{escape(str(dataset))}: dashboard {data['dashboard']} for "
                        f"{escape(data['user'])}" + (f", target {escape(target)}" if target
                                                     else ""))
    for column in ("slot", "tile", "kind", "columns", "chart", "size", "agent", "decision",
                   "propensity", "why"):
        table.add_column(column, overflow="fold")
    for tile in data["tiles"]:
        table.add_row(str(tile["slot"]), escape(tile["id"]), escape(tile["kind"]),
                      escape(", ".join(map(str, tile["columns"]))),
                      escape(tile["chart_type"] or ""), f"{tile['width']}x{tile['height']}",
                      escape(tile["agent"]),
                      "" if tile["decision_id"] is None else str(tile["decision_id"]),
                      f"{tile['propensity']:.3f}", escape(tile["why"]))
    console.print(table)
    if data["target_choices"]:
        console.print("target choices: " + escape(", ".join(data["target_choices"])))


def feedback_command(
    dataset: Dataset,
    tile: Annotated[str, typer.Option("--tile", help="The tile id (see `hub plan`), or "
                                                    f"'{DASHBOARD_TILE}'.")],
    kind: Annotated[str, typer.Option("--kind", help="thumbs_up, thumbs_down, task_done...")],
    user: Viewer = None,
    value: Annotated[float, typer.Option("--value", help="Seconds for dwell, 1-5 for a "
                                                         "rating, else 1.")] = 1.0,
    target: Target = None,
) -> None:
    """Record one feedback event as the page would; it shapes the viewer's next plan."""
    from hub_kernel.agents.common.events import KINDS

    if kind not in KINDS:
        fail(f"unknown feedback kind {kind!r}; kinds: {', '.join(KINDS)}")
    try:
        controller, plan, profile = _plan(dataset, user, target)
        if tile != DASHBOARD_TILE and tile not in plan.layout:
            raise HubError(f"{dataset}: no tile {tile!r} in {plan.user}'s dashboard; tiles: "
                           f"{', '.join(plan.layout.ids)} (or '{DASHBOARD_TILE}')")
        session = controller.open(plan.layout, user=plan.user, dashboard=plan.dashboard,
                                  profile=profile)
        session.interact(tile, kind, value)
    except HubError as exc:
        fail(exc)
    console.print(f"recorded {escape(kind)} on {escape(tile)} for {escape(plan.user)} "
                  f"(dashboard {plan.dashboard})")
