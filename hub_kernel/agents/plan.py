"""What a dashboard shows: the tiles the agents planned for one dataset, viewer and target.

A ``Plan`` is the answer of ``MetaController.plan``: a ``Layout`` (order, size and chart type of
every tile) plus, per tile, which agent decided it, the decision's audit id, its propensity and
why. ``hub plan`` prints it; the dashboard renders its layout and fills the analysis tiles in
the background.

``candidate_tiles`` lists every tile that fits a dataset: the cheap ones (overview, one chart
per interesting column, missing values), one tile per catalog analysis that applies, and the
model tile when there is a target. ``dashboard_id`` names a dashboard by its data's content.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from hub_kernel.layout import Layout, Tile, analysis_kind, chart_candidates, tile_id_for

if TYPE_CHECKING:
    from hub_kernel.data.profile import DatasetProfile

#: tiles painted at once, from the profile alone (no analysis to wait for)
CHEAP_KINDS = ("overview", "chart", "missing")


def dashboard_id(frame: pd.DataFrame, target: str | None = None) -> str:
    """A dashboard's id from its data's content (names, dtypes, values) and target: the same
    table gets the same stored layouts and priors whatever it is called, and two different
    tables never share them."""
    from hub_kernel.models.training import dataset_fingerprint  # one content hash in hub

    digest = hashlib.sha256(f"{dataset_fingerprint(frame)}\0target={target or ''}".encode())
    return f"dash-{digest.hexdigest()[:16]}"


@dataclass(frozen=True)
class PlannedTile:
    """One tile of a plan and the decision behind it."""

    tile: Tile
    agent: str  # "strategy" (which analysis), "design" (arrangement) or "default"
    why: str
    propensity: float = 1.0
    decision_id: int | None = None  # the audit log row of the decision
    chart_candidates: tuple[str, ...] = ()
    expected: float | None = None  # the learner's expected reward of the tile

    def to_dict(self, slot: int) -> dict[str, Any]:
        tile = self.tile
        return {"slot": slot, "id": tile.id, "kind": tile.kind, "analysis": tile.analysis,
                "title": tile.title, "columns": list(tile.columns),
                "chart_type": tile.chart_type, "width": tile.width, "height": tile.height,
                "agent": self.agent, "decision_id": self.decision_id,
                "propensity": round(self.propensity, 4),
                "expected": None if self.expected is None else round(self.expected, 4),
                "why": self.why}


@dataclass
class Plan:
    """The tiles the agents chose for one dataset, viewer and target, in slot order."""

    dashboard: str
    user: str
    target: str | None
    layout: Layout
    tiles: dict[str, PlannedTile] = field(default_factory=dict)  # tile id -> decision
    #: columns the strategy agent proposes as targets when none was given, best first
    target_choices: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # analyses considered and not shown
    #: the strategy agent's analysis changes the autonomy mode holds back for approval: the
    #: layout with them (the dashboard submits it to its governor), and why
    proposed: Layout | None = None
    proposed_why: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"dashboard": self.dashboard, "user": self.user, "target": self.target,
                "n_columns": self.layout.n_columns, "target_choices": self.target_choices,
                "skipped": self.skipped,
                "proposed": None if self.proposed is None else {
                    "add": [t.id for t in self.proposed if t.id not in self.layout],
                    "remove": [t.id for t in self.layout if t.id not in self.proposed],
                    "why": self.proposed_why},
                "tiles": [self.tiles[t.id].to_dict(slot) if t.id in self.tiles else
                          PlannedTile(t, "default", "").to_dict(slot)
                          for slot, t in enumerate(self.layout)]}


def chart_tiles(profile: DatasetProfile, n_columns: int = 3, limit: int = 6) -> list[Tile]:
    """One chart per interesting column (trend over time first), each with the chart type
    candidates its columns fit; the first candidate is the starting chart type."""
    numeric = sorted(profile.of_kind("numeric"),
                     key=lambda c: -(abs(c.stats.get("std", 0.0))
                                     / (abs(c.stats.get("mean", 0.0)) + 1e-9)))
    dates = profile.of_kind("datetime")
    categorical = [c for c in profile.of_kind("categorical", "boolean")
                   if 2 <= c.n_unique <= 50]
    tiles: list[Tile] = []
    if dates and numeric:
        date = dates[0].name
        trend = max(numeric, key=lambda c: c.stats.get("autocorr", 0.0))
        tiles.append(Tile(id=tile_id_for("time", date, trend.name), kind="chart",
                          title=f"{trend.name} over {date}", columns=(date, trend.name),
                          chart_type=chart_candidates(("datetime", "numeric"))[0],
                          width=min(2, n_columns)))
    for column in numeric[:3]:
        tiles.append(Tile(id=tile_id_for("num", column.name), kind="chart",
                          title=f"Distribution of {column.name}", columns=(column.name,),
                          chart_type=chart_candidates(("numeric",))[0]))
    for column in categorical[:2]:
        tiles.append(Tile(id=tile_id_for("cat", column.name), kind="chart",
                          title=f"{column.name} counts", columns=(column.name,),
                          chart_type=chart_candidates((column.kind,))[0]))
    if len(numeric) >= 2:
        first, second = numeric[0].name, numeric[1].name
        tiles.append(Tile(id=tile_id_for("xy", first, second), kind="chart",
                          title=f"{second} against {first}", columns=(first, second),
                          chart_type=chart_candidates(("numeric", "numeric"),
                                                      profile.n_rows)[-1]))
    return tiles[:limit]


def tile_chart_candidates(tile: Tile, profile: DatasetProfile) -> tuple[str, ...]:
    """The chart types ``tile`` may be drawn with (empty: its chart type is not a choice)."""
    if tile.kind != "chart" or not tile.columns:
        return ()
    names = {c.name: c.kind for c in profile.columns}
    kinds = tuple(names.get(c, "") for c in tile.columns)
    return chart_candidates(kinds, profile.n_rows)


def analysis_tile(name: str, title: str, n_columns: int = 3) -> Tile:
    """The tile of the catalog analysis ``name``."""
    return Tile(id=tile_id_for("an", name), kind=analysis_kind(name), title=title,
                width=min(2, n_columns) if name in ("correlations", "trend") else 1)


def model_tile(target: str, n_columns: int = 3) -> Tile:
    """The model tile: the champion for this dataset and target, and a Train button."""
    return Tile(id=tile_id_for("model", target), kind="model", title=f"Model of {target}",
                columns=(target,), width=min(2, n_columns))


def cheap_tiles(profile: DatasetProfile, n_columns: int = 3) -> list[Tile]:
    """The tiles drawn from the profile alone: overview, charts, missing values."""
    return [Tile(id="overview", kind="overview", title="Overview", width=min(2, n_columns)),
            *chart_tiles(profile, n_columns),
            Tile(id="missing", kind="missing", title="Missing values")]


def live_tile(stream: str, n_columns: int = 3) -> Tile:
    """The live tile of the stream named ``stream``: its rolling window and quality line."""
    return Tile(id=tile_id_for("live", stream), kind="live", title=f"Live: {stream}",
                width=min(2, n_columns))


def rejected_twice(events: Iterable[Any], kinds: Iterable[str], times: float = 2) -> set[str]:
    """Ids of the tiles ``events`` rejected (``kinds``: thumbs down, dismiss) ``times`` times."""
    kinds = set(kinds)
    counts: dict[str, int] = {}
    for e in events:
        if e.kind in kinds and e.value > 0:
            counts[e.tile] = counts.get(e.tile, 0) + 1
    return {tile for tile, n in counts.items() if n >= times}


def target_choices(profile: DatasetProfile, limit: int = 5) -> list[str]:
    """Columns worth predicting, best first: categorical or boolean with 2 to 10 classes, or
    numeric with many values; never constant, id-like (a distinct value per row, or an
    ``id`` name), datetime or text. Fewer missing values first, then later columns (a
    table's target is often its last)."""
    n_rows = max(profile.n_rows, 1)
    scored: list[tuple[float, int, str]] = []
    for position, column in enumerate(profile.columns):
        name = column.name.strip().lower()
        id_like = (name == "id" or name.endswith("_id") or name.endswith(" id")
                   or (column.kind != "numeric" and column.n_unique >= 0.95 * n_rows)
                   or (column.kind == "numeric" and column.n_unique == n_rows
                       and column.stats.get("autocorr", 0.0) > 0.99))
        if column.n_unique < 2 or id_like or column.missing_share > 0.5:
            continue
        if column.kind in ("categorical", "boolean") and column.n_unique <= 10:
            kind_score = 0.0
        elif column.kind == "numeric" and column.n_unique > 10:
            kind_score = 0.1
        else:
            continue
        scored.append((column.missing_share + kind_score, -position, column.name))
    return [name for *_, name in sorted(scored)[:limit]]
