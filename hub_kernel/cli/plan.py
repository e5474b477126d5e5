"""``hub plan`` and ``hub feedback``: the agents' dashboard, scriptable from outside.

``hub plan DATASET`` prints what the agents would show a viewer now (per tile its slot, kind,
analysis, columns, chart type, size, the deciding agent, its audit id, propensity and why), as a
table or, with ``--json``, as ``Plan.to_dict()``. ``hub feedback DATASET --tile ID --kind K``
records one interaction the way the dashboard page does (a session opened on the planned
layout, then ``DashboardSession.interact``), for replaying feedback collected elsewhere; the
next ``hub plan`` of that viewer learns from it.

Both name a dashboard as the page does: by the content hash of the data and the target
(``hub_kernel.agents.plan.dashboard_id``). Every hub error is one line and exit code 1.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from hub_kernel.cli.common import console, fail
from hub_kernel.exceptions import AgentError, DataError, HubError

if TYPE_CHECKING:
    from hub_kernel.agents.controller import MetaController
    from hub_kernel.agents.plan import Plan
    from hub_kernel.data.profile import DatasetProfile

#: the tile id of feedback about the whole dashboard
DASHBOARD_TILE = "dashboard"
#: feedback kinds about the whole dashboard rather than one tile
DASHBOARD_KINDS = ("done", "rating", "train", "export")

Dataset = Annotated[Path, typer.Argument(help="A CSV/Parquet/Excel/JSON file.")]
UserOption = Annotated[str | None, typer.Option(
    "--user", "-u", help="The viewer (default HUB_USER, else 'default').")]
TargetOption = Annotated[str | None, typer.Option(
    "--target", "-t", help="A column to predict: adds the model tile.")]


def _planned(dataset: Path, user: str | None, target: str | None
             ) -> tuple[MetaController, Plan, DatasetProfile]:
    """Load ``dataset``, profile it and ask the controller for ``user``'s plan."""
    from hub_kernel.agents.controller import MetaController
    from hub_kernel.agents.plan import dashboard_id
    from hub_kernel.core.config import get_settings
    from hub_kernel.data import is_lazy_input, load_dataset, open_table, profile_table
    from hub_kernel.data.large import is_glob
    from hub_kernel.data.profile import profile_dataset

    if not dataset.exists() and not is_glob(str(dataset)):
        raise DataError(dataset, "no such file")
    profile = None
    if is_lazy_input(dataset):  # larger than memory: as the dashboard opens it
        table = open_table(str(dataset))
        profile = profile_table(table)
        frame = table.sample()
    elif dataset.is_dir():
        raise DataError(dataset, "is a directory; give a data file (CSV, Parquet, Excel, JSON)")
    else:
        frame = load_dataset(dataset)
    if target is not None and target not in frame.columns:
        raise DataError(dataset, f"no column {target!r} (the --target); columns: "
                                 f"{', '.join(map(str, frame.columns[:20]))}"
                                 + (", ..." if len(frame.columns) > 20 else ""))
    profile = profile or profile_dataset(frame)
    controller = MetaController()
    plan = controller.plan(profile, user=user or get_settings().user,
                           dashboard=dashboard_id(frame, target), target=target)
    return controller, plan, profile


def plan_command(
    dataset: Dataset,
    user: UserOption = None,
    target: TargetOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Print the tiles the agents would show USER on DATASET now, and why."""
    try:
        _, plan, _ = _planned(dataset, user, target)
    except HubError as exc:
        fail(exc, soft_wrap=False)
    if as_json:
        typer.echo(json.dumps(plan.to_dict(), indent=2))
        return
    print_plan(plan.to_dict(), name=str(dataset))


def print_plan(plan: dict[str, Any], *, name: str) -> None:
    """A plan (``Plan.to_dict()``) as a rich table, user text escaped."""
    header = (f"[bold]{escape(name)}[/]: dashboard {escape(plan['dashboard'])} for user "
              f"{escape(plan['user'])}"
              + (f", target {escape(plan['target'])}" if plan["target"] else ""))
    console.print(header)
    table = Table(show_lines=False)
    for column in ("slot", "id", "kind", "analysis", "columns", "chart", "size", "agent",
                   "decision", "propensity", "why"):
        # ids stay whole, so that they can be copied into `hub feedback --tile`
        table.add_column(column, overflow="fold", no_wrap=column == "id")
    for tile in plan["tiles"]:
        table.add_row(
            str(tile["slot"]), escape(tile["id"]), escape(tile["kind"]),
            escape(tile["analysis"] or ""), escape(", ".join(tile["columns"])),
            escape(tile["chart_type"] or ""), f"{tile['width']}x{tile['height']}",
            tile["agent"], "" if tile["decision_id"] is None else f"#{tile['decision_id']}",
            f"{tile['propensity']:.3f}", escape(tile["why"]))
    console.print(table)
    if plan.get("skipped"):
        console.print("not shown: " + escape(", ".join(plan["skipped"])))
    if plan.get("target_choices"):
        console.print("possible targets: " + escape(", ".join(plan["target_choices"])))


def check_kind(kind: str, value: float) -> None:
    """Refuse a feedback kind the page never sends or a value out of its range
    (``AgentError``)."""
    from hub_kernel.agents.common.events import KINDS

    if kind not in KINDS:
        raise AgentError(f"unknown feedback kind {kind!r}; kinds: {', '.join(KINDS)}")
    if not math.isfinite(value):
        raise AgentError(f"--value must be a number, not {value}")
    if kind == "rating" and not 1 <= value <= 5:
        raise AgentError(f"a rating is 1 to 5, not {value:g}")
    if kind in ("dwell", "render", "compute") and value < 0:
        raise AgentError(f"{kind} is a number of seconds, not {value:g}")


def check_tile(plan: Plan, tile: str, kind: str) -> None:
    """Refuse a tile the plan does not show, or a per-tile kind on the dashboard
    (``AgentError``)."""
    if tile == DASHBOARD_TILE:
        if kind not in DASHBOARD_KINDS:
            raise AgentError(f"{kind!r} is feedback on a tile, not on the dashboard; "
                             f"dashboard kinds: {', '.join(DASHBOARD_KINDS)}")
    elif tile not in plan.layout:
        raise AgentError(f"the plan of dashboard {plan.dashboard} for user {plan.user} has "
                         f"no tile {tile!r}; tiles: {', '.join(plan.layout.ids)}, or "
                         f"{DASHBOARD_TILE!r} for {', '.join(DASHBOARD_KINDS)}")


def feedback_command(
    dataset: Dataset,
    tile: Annotated[str, typer.Option(
        "--tile", help=f"A tile id of `hub plan`, or {DASHBOARD_TILE!r} for dashboard "
                       f"feedback ({', '.join(DASHBOARD_KINDS)}).")],
    kind: Annotated[str, typer.Option(
        "--kind", help="thumbs_up, thumbs_down, pin, expand, dismiss, task_done, done, "
                       "rating...")],
    user: UserOption = None,
    value: Annotated[float, typer.Option(
        help="Seconds for dwell, render and compute, 1-5 for a rating; 1 otherwise.")] = 1.0,
    target: TargetOption = None,
) -> None:
    """Record one feedback event on DATASET's dashboard as the page would; the next
    `hub plan` of USER learns from it."""
    try:
        check_kind(kind, value)
        controller, plan, profile = _planned(dataset, user, target)
        check_tile(plan, tile, kind)
        session = controller.open(plan.layout, user=plan.user, dashboard=plan.dashboard,
                                  profile=profile)
        session.interact(tile, kind, value)
    except HubError as exc:
        fail(exc, soft_wrap=False)
    console.print(f"recorded {escape(kind)} ({value:g}) on {escape(tile)} for user "
                  f"{escape(plan.user)} on dashboard {escape(plan.dashboard)} "
                  f"(session {escape(session.session)})")
