import pytest

from hub_kernel.data import load_dataset, profile_dataset
from hub_kernel.exceptions import LayoutError
from hub_kernel.layout import Layout, Tile, default_layout, tile_id_for


def tiles(*ids, **kw):
    return [Tile(id=i, kind="chart", title=i, columns=("x",), chart_type="histogram", **kw)
            for i in ids]


def grid(layout):
    return [(p.tile.id, p.row, p.column, p.width) for p in layout.placements()]


def test_tiles_flow_into_the_grid_in_slot_order():
    layout = Layout(tiles("a", "b", "c", "d"), n_columns=3)
    assert grid(layout) == [("a", 0, 0, 1), ("b", 0, 1, 1), ("c", 0, 2, 1), ("d", 1, 0, 1)]
    assert layout.n_rows == 2


def test_wide_tile_fills_the_first_gap_it_fits():
    layout = Layout(tiles("a", "b"), n_columns=3)
    layout.add(Tile(id="w", kind="overview", title="wide", width=2), slot=1)
    assert grid(layout) == [("a", 0, 0, 1), ("w", 0, 1, 2), ("b", 1, 0, 1)]
    layout.resize("a", width=3)
    assert grid(layout) == [("a", 0, 0, 3), ("w", 1, 0, 2), ("b", 1, 2, 1)]


def test_tall_tile_leaves_room_beside_it():
    layout = Layout(tiles("a", "b", "c"), n_columns=2)
    layout.resize("a", height=2)
    assert [(p.tile.id, p.row, p.column) for p in layout.placements()] == [
        ("a", 0, 0), ("b", 0, 1), ("c", 1, 1)]


def test_move_swap_and_observers():
    layout = Layout(tiles("a", "b", "c"))
    seen = []
    unsubscribe = layout.observe(lambda lay: seen.append(lay.ids))
    layout.move("c", 0)
    layout.swap("a", "b")
    assert seen == [["c", "a", "b"], ["c", "b", "a"]]
    assert layout.version == 2
    layout.move("c", 0)  # no-op: no notification
    unsubscribe()
    layout.move("a", 0)
    assert len(seen) == 2
    assert layout.ids == ["a", "c", "b"]


def test_chart_type_change_and_invalid_requests():
    layout = Layout([*tiles("a"), Tile(id="o", kind="overview", title="o")], n_columns=2)
    layout.set_chart_type("a", "line")
    assert layout["a"].chart_type == "line"
    with pytest.raises(LayoutError, match="draws no chart"):
        layout.set_chart_type("o", "bar")
    with pytest.raises(LayoutError, match="no tile 'zz'"):
        layout.move("zz", 0)
    with pytest.raises(LayoutError, match="3 columns wide"):
        layout.resize("a", width=3)
    with pytest.raises(LayoutError, match="already in the layout"):
        layout.add(tiles("a")[0])
    with pytest.raises(ValueError):
        layout.set_chart_type("a", "pie")


def test_pinned_tiles_survive_agent_replacements():
    layout = Layout(tiles("a", "b", "c"))
    layout.pin("a")
    with pytest.raises(LayoutError, match="pinned"):
        layout.remove("a")
    with pytest.raises(LayoutError, match="pinned tile 'a'"):
        layout.replace([layout["b"], layout["a"], layout["c"]])
    assert layout.ids == ["a", "b", "c"]  # a refused proposal changes nothing
    layout.replace([layout["a"], layout["c"]])
    assert layout.ids == ["a", "c"]


def test_json_round_trip():
    layout = Layout(tiles("a", "b"), n_columns=2)
    layout.resize("b", width=2)
    again = Layout.from_json(layout.to_json())
    assert again == layout
    assert grid(again) == grid(layout)
    with pytest.raises(LayoutError):
        Layout.from_dict({"tiles": [{"id": "bad id!", "kind": "chart", "title": "x"}]})


def test_tile_ids_are_css_safe_for_any_column_name():
    hostile = tile_id_for("hist", "<script>alert(1)</script>")
    assert hostile.startswith("hist-script-alert-1-script-")
    Tile(id=hostile, kind="chart", title="t")  # passes validation
    assert tile_id_for("hist", "a b") != tile_id_for("hist", "a-b")
    assert tile_id_for("hist", "temp") == "hist-temp"


def test_default_layout_for_the_sample_dataset():
    profile = profile_dataset(load_dataset())
    layout = default_layout(profile)
    assert layout.ids[0] == "overview"
    assert layout.ids[-1] == "missing"
    charts = [t for t in layout if t.kind == "chart"]
    assert [t.chart_type for t in charts] == ["line", "histogram", "histogram", "bar"]
    line = charts[0]
    assert line.columns == ("date", "temp_max")  # the smooth series, not noisy rain
    assert line.width == 2
    assert charts[-1].columns == ("weather",)
