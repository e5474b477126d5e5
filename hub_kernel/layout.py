"""The dashboard layout: which tiles are shown, in which slot, how large, with which chart.

A ``Layout`` is plain data plus change notification. The widgets render it and re-render when it
changes; agents propose new layouts through ``replace``. Tiles flow into a grid of ``n_columns``
in slot order, each placed at the first free cell where it fits (dense packing).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hub_kernel.exceptions import LayoutError

logger = logging.getLogger("hub_kernel")

#: tile kinds the engine itself plans; analysis tiles are ``analysis-<analysis name>`` (one
#: kind per analysis of the catalog) and plug-ins may add their own kinds
BASE_KINDS = ("overview", "chart", "missing", "model", "live", "runs")
ANALYSIS_PREFIX = "analysis-"
ChartType = Literal["histogram", "box", "violin", "line", "area", "scatter", "hexbin", "bar",
                    "dot", "heatmap"]
CHART_TYPES: tuple[str, ...] = ChartType.__args__  # type: ignore[attr-defined]

# chart types that fit the kinds of the columns a tile shows (the Design Agent's candidates)
CHARTS_FOR_KINDS: dict[tuple[str, ...], tuple[ChartType, ...]] = {
    ("numeric",): ("histogram", "box", "violin"),
    ("datetime", "numeric"): ("line", "area", "scatter"),
    ("numeric", "numeric"): ("scatter", "hexbin"),
    ("categorical",): ("bar", "dot"),
    ("boolean",): ("bar", "dot"),
}
#: above this many rows a scatter of two numeric columns also has a hexbin candidate; below,
#: a hexbin of few points says less than the points themselves
MANY_POINTS = 2000


def chart_candidates(kinds: Sequence[str], n_rows: int = 0) -> tuple[ChartType, ...]:
    """The chart types that fit columns of ``kinds`` (e.g. ``("numeric",)``) and ``n_rows``."""
    candidates = CHARTS_FOR_KINDS.get(tuple(kinds), ())
    if tuple(kinds) == ("numeric", "numeric") and n_rows < MANY_POINTS:
        candidates = tuple(c for c in candidates if c != "hexbin")
    return candidates


def analysis_kind(name: str) -> str:
    """The tile kind of the analysis ``name`` of the catalog."""
    return f"{ANALYSIS_PREFIX}{name}"


class Tile(BaseModel):
    """One dashboard tile. Immutable: layout operations replace tiles."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    # CSS-safe: the page marks each tile with the class ``hub-tile--<kind>``
    kind: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,48}$")
    title: str
    columns: tuple[str, ...] = ()
    chart_type: ChartType | None = None
    width: int = Field(1, ge=1, le=12)
    height: int = Field(1, ge=1, le=12)
    pinned: bool = False
    # locked: agents may move it but never resize it, change its chart or remove it
    locked: bool = False

    @property
    def analysis(self) -> str | None:
        """The catalog analysis this tile shows (``None`` for other kinds)."""
        return self.kind.removeprefix(ANALYSIS_PREFIX) if self.kind.startswith(
            ANALYSIS_PREFIX) else None


@dataclass(frozen=True)
class Placement:
    """Where a tile lands in the grid (0-based row and column)."""

    tile: Tile
    slot: int
    row: int
    column: int
    width: int
    height: int


Observer = Callable[["Layout"], None]


class Layout:
    """An ordered set of tiles on a grid of ``n_columns`` columns, observable for changes."""

    def __init__(self, tiles: Iterable[Tile] = (), n_columns: int = 3) -> None:
        if n_columns < 1:
            raise LayoutError(f"n_columns must be at least 1, got {n_columns}")
        self.n_columns = n_columns
        self._tiles: list[Tile] = []
        self._observers: list[Observer] = []
        self.version = 0
        self.last_change = "created"
        for tile in tiles:
            self._check_new(tile)
            self._tiles.append(tile)

    # -- reading -----------------------------------------------------------------------------
    @property
    def tiles(self) -> tuple[Tile, ...]:
        return tuple(self._tiles)

    @property
    def ids(self) -> list[str]:
        return [t.id for t in self._tiles]

    def __len__(self) -> int:
        return len(self._tiles)

    def __iter__(self) -> Iterator[Tile]:
        return iter(self.tiles)

    def __contains__(self, tile_id: object) -> bool:
        return any(t.id == tile_id for t in self._tiles)

    def __getitem__(self, tile_id: str) -> Tile:
        return self._tiles[self.slot_of(tile_id)]

    def slot_of(self, tile_id: str) -> int:
        for slot, tile in enumerate(self._tiles):
            if tile.id == tile_id:
                return slot
        raise LayoutError(f"no tile {tile_id!r} in the layout; tiles are {self.ids}")

    def placements(self) -> list[Placement]:
        """Grid positions of all tiles, in slot order."""
        occupied: set[tuple[int, int]] = set()
        result = []
        for slot, tile in enumerate(self._tiles):
            width = min(tile.width, self.n_columns)
            row = 0
            while True:
                column = next(
                    (
                        c
                        for c in range(self.n_columns - width + 1)
                        if all(
                            (r, cc) not in occupied
                            for r in range(row, row + tile.height)
                            for cc in range(c, c + width)
                        )
                    ),
                    None,
                )
                if column is not None:
                    break
                row += 1
            occupied.update(
                (r, c) for r in range(row, row + tile.height) for c in range(column, column + width)
            )
            result.append(Placement(tile, slot, row, column, width, tile.height))
        return result

    @property
    def n_rows(self) -> int:
        return max((p.row + p.height for p in self.placements()), default=0)

    # -- changing ----------------------------------------------------------------------------
    def observe(self, callback: Observer) -> Callable[[], None]:
        """Call ``callback(layout)`` after every change; returns a function that unsubscribes."""
        self._observers.append(callback)
        return lambda: self._observers.remove(callback) if callback in self._observers else None

    def move(self, tile_id: str, slot: int) -> None:
        """Move a tile to ``slot`` (0 is first); the others keep their relative order."""
        old = self.slot_of(tile_id)
        slot = max(0, min(slot, len(self._tiles) - 1))
        if slot == old:
            return
        tile = self._tiles.pop(old)
        self._tiles.insert(slot, tile)
        self._changed(f"move {tile_id} {old}->{slot}")

    def swap(self, first: str, second: str) -> None:
        a, b = self.slot_of(first), self.slot_of(second)
        self._tiles[a], self._tiles[b] = self._tiles[b], self._tiles[a]
        self._changed(f"swap {first} {second}")

    def resize(self, tile_id: str, width: int | None = None, height: int | None = None) -> None:
        tile = self[tile_id]
        width = tile.width if width is None else width
        if width > self.n_columns:
            raise LayoutError(
                f"tile {tile_id!r} cannot be {width} columns wide in a {self.n_columns}-column grid"
            )
        self._update(tile_id, width=width, height=tile.height if height is None else height)

    def set_chart_type(self, tile_id: str, chart_type: ChartType) -> None:
        if self[tile_id].chart_type is None:
            raise LayoutError(f"tile {tile_id!r} draws no chart whose type can change")
        self._update(tile_id, chart_type=chart_type)

    def pin(self, tile_id: str, pinned: bool = True) -> None:
        """Pin a tile: it keeps its slot, size and chart whatever an agent proposes."""
        self._update(tile_id, pinned=pinned)

    def lock(self, tile_id: str, locked: bool = True) -> None:
        """Lock a tile: agents may move it, never change or remove it."""
        self._update(tile_id, locked=locked)

    def add(self, tile: Tile, slot: int | None = None) -> None:
        self._check_new(tile)
        self._tiles.insert(len(self._tiles) if slot is None else slot, tile)
        self._changed(f"add {tile.id}")

    def remove(self, tile_id: str) -> Tile:
        tile = self[tile_id]
        if tile.pinned or tile.locked:
            state = "pinned" if tile.pinned else "locked"
            raise LayoutError(f"tile {tile_id!r} is {state}; un{state[:-2]} it before removing it")
        self._tiles.pop(self.slot_of(tile_id))
        self._changed(f"remove {tile_id}")
        return tile

    def replace(self, tiles: Sequence[Tile], n_columns: int | None = None, *,
                override_pins: bool = False) -> None:
        """Swap in a whole new arrangement (what an agent proposes) in one change.

        Pinned tiles must stay, unchanged, in the slot they have, unless ``override_pins``:
        only a person's explicit action (new data, reset) passes it, never an agent.
        """
        n_columns = n_columns or self.n_columns
        candidate = Layout(tiles, n_columns)
        if not override_pins:
            check_protected(self, candidate)
        self._tiles = list(candidate._tiles)
        self.n_columns = n_columns
        self._changed("replace")

    # -- persistence -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"n_columns": self.n_columns, "tiles": [t.model_dump(mode="json") for t in self]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Layout:
        try:
            tiles = [Tile.model_validate(t) for t in data["tiles"]]
            return cls(tiles, int(data.get("n_columns", 3)))
        except (KeyError, TypeError, ValueError) as exc:
            raise LayoutError(f"not a valid layout: {exc}") from exc

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Layout:
        return cls.from_dict(json.loads(text))

    def copy(self) -> Layout:
        return Layout(self._tiles, self.n_columns)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Layout) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Layout(n_columns={self.n_columns}, tiles={self.ids})"

    # -- internals ---------------------------------------------------------------------------
    def _check_new(self, tile: Tile) -> None:
        if tile.id in self:
            raise LayoutError(f"a tile with id {tile.id!r} is already in the layout")
        if tile.width > self.n_columns:
            raise LayoutError(
                f"tile {tile.id!r} is {tile.width} columns wide; the grid has {self.n_columns}"
            )

    def _update(self, tile_id: str, **changes: Any) -> None:
        slot = self.slot_of(tile_id)
        tile = self._tiles[slot]
        updated = Tile.model_validate({**tile.model_dump(), **changes})
        if updated == tile:
            return
        self._tiles[slot] = updated
        self._changed(f"update {tile_id} {changes}")

    def _changed(self, what: str) -> None:
        self.version += 1
        self.last_change = what
        logger.debug("layout v%d: %s", self.version, what)
        for callback in list(self._observers):
            callback(self)


def check_protected(before: Layout, after: Layout) -> None:
    """Refuse ``after`` when it moves or changes a pinned tile, or changes or drops a locked one."""
    for slot, tile in enumerate(before.tiles):
        if tile.pinned and (slot >= len(after) or after.tiles[slot] != tile):
            raise LayoutError(f"pinned tile {tile.id!r} must keep slot {slot} unchanged")
        if tile.locked and (tile.id not in after or after[tile.id] != tile):
            raise LayoutError(f"locked tile {tile.id!r} must stay, unchanged")


def tile_id_for(prefix: str, *columns: str) -> str:
    """A stable, CSS-safe tile id for tiles about ``columns`` (names may hold any text)."""
    import hashlib

    raw = "-".join((prefix, *columns))
    slug = re.sub(r"[^A-Za-z0-9_]+", "-", raw).strip("-")[:40] or prefix
    if slug != raw:
        slug = f"{slug}-{hashlib.sha1(raw.encode()).hexdigest()[:6]}"  # noqa: S324 - not security
    return slug


def default_layout(profile: Any, n_columns: int = 3, max_charts: int = 4) -> Layout:
    """The starting dashboard for a dataset: overview, a few charts, missing values.

    ``profile`` is a ``hub_kernel.data.DatasetProfile``. Charts go to the datetime trend of the
    most variable numeric columns first, then distributions, then categories.
    """
    tiles = [Tile(id="overview", kind="overview", title="Overview")]
    numeric = sorted(
        profile.of_kind("numeric"),
        key=lambda c: -(abs(c.stats.get("std", 0.0)) / (abs(c.stats.get("mean", 0.0)) + 1e-9)),
    )
    dates = profile.of_kind("datetime")
    categorical = [c for c in profile.of_kind("categorical", "boolean") if c.n_unique >= 2]
    charts: list[Tile] = []
    if dates and numeric:
        date = dates[0].name
        trend = max(numeric, key=lambda c: c.stats.get("autocorr", 0.0))
        charts.append(
            Tile(
                id=tile_id_for("line", date, trend.name),
                kind="chart",
                title=f"{trend.name} over {date}",
                columns=(date, trend.name),
                chart_type="line",
                width=min(2, n_columns),
            )
        )
    for column in numeric:
        if len(charts) >= max_charts - (1 if categorical else 0):
            break
        charts.append(
            Tile(
                id=tile_id_for("hist", column.name),
                kind="chart",
                title=f"Distribution of {column.name}",
                columns=(column.name,),
                chart_type="histogram",
            )
        )
    for column in categorical:
        if len(charts) >= max_charts:
            break
        charts.append(
            Tile(
                id=tile_id_for("bar", column.name),
                kind="chart",
                title=f"{column.name} counts",
                columns=(column.name,),
                chart_type="bar",
            )
        )
    tiles.extend(charts)
    tiles.append(Tile(id="missing", kind="missing", title="Missing values"))
    return Layout(tiles, n_columns=n_columns)
