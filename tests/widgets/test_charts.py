import numpy as np
import pandas as pd
import pytest

from hub_kernel.exceptions import LayoutError
from hub_kernel.layout import Tile
from widgets.charts import MAX_BARS, MAX_POINTS, chart_data, chart_figure


def tile(chart, *columns):
    return Tile(id="t", kind="chart", title="t", columns=columns, chart_type=chart)


def test_histogram_counts_every_value():
    frame = pd.DataFrame({"x": np.arange(100.0)})
    data = chart_data(frame, tile("histogram", "x"))
    assert sum(data["count"]) == 100
    assert data["left"][0] == 0.0 and data["right"][-1] == 99.0


def test_bars_keep_the_top_categories_and_group_the_rest():
    frame = pd.DataFrame({"c": [f"k{i % 30}" for i in range(300)] + [None] * 5})
    data = chart_data(frame, tile("bar", "c"))
    assert len(data["category"]) == MAX_BARS
    assert data["category"][-1] == "(other)"
    assert sum(data["count"]) == 305


def test_long_lines_are_downsampled_keeping_order():
    frame = pd.DataFrame({"t": pd.date_range("2020", periods=10_000, freq="h"),
                          "y": np.arange(10_000.0)})
    data = chart_data(frame, tile("line", "t", "y"))
    assert len(data["x"]) <= MAX_POINTS
    assert data["y"] == sorted(data["y"])


def test_unknown_column_is_a_layout_error():
    with pytest.raises(LayoutError, match="not in the data"):
        chart_data(pd.DataFrame({"a": [1]}), tile("histogram", "b"))


@pytest.mark.parametrize("chart", ["histogram", "line", "scatter"])
def test_figures_build_for_numeric_charts(chart):
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [3.0, 1.0, 2.0]})
    columns = ("a",) if chart == "histogram" else ("a", "b")
    fig = chart_figure(frame, tile(chart, *columns))
    assert fig.renderers


def test_infinite_values_are_left_out_of_charts():
    frame = pd.DataFrame({"x": [1.0, np.inf, -np.inf, 2.0, np.nan, 3.0]})
    assert sum(chart_data(frame, tile("histogram", "x"))["count"]) == 3
    assert chart_data(frame, tile("line", "x"))["y"] == [1.0, 2.0, 3.0]


# -- every chart type the design agent may choose ---------------------------------------------
ODD = [1.0, np.inf, -np.inf, np.nan, 2.0, 3.0]  # what counts: 1, 2, 3


def test_box_draws_quartiles_whiskers_and_the_outliers():
    values = [*np.arange(1.0, 101.0), 1000.0, np.nan, np.inf]
    data = chart_data(pd.DataFrame({"x": values}), tile("box", "x"))
    assert data["q2"] == [pytest.approx(51.0)]
    assert data["q1"][0] < data["q2"][0] < data["q3"][0]
    assert data["lower"] == [1.0] and data["upper"] == [100.0]  # 1000 is beyond 1.5 IQR
    assert data["outliers"] == [1000.0]
    assert chart_figure(pd.DataFrame({"x": values}), tile("box", "x")).renderers


def test_box_of_few_and_of_no_values():
    assert chart_data(pd.DataFrame({"x": [5.0]}), tile("box", "x"))["q2"] == [5.0]
    empty = chart_data(pd.DataFrame({"x": [np.nan, np.inf]}), tile("box", "x"))
    assert empty["q2"] == [] and empty["outliers"] == []


def test_violin_is_a_density_over_the_values_range():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0, 1, 500), rng.normal(10, 1, 500), [np.nan, np.inf]])
    data = chart_data(pd.DataFrame({"x": values}), tile("violin", "x"))
    density, grid = np.array(data["density"]), np.array(data["y"])
    assert density.max() == pytest.approx(1.0) and density.min() >= 0
    assert grid.min() < 0 and grid.max() > 10
    # two modes: the density between them is lower than at them
    assert density[np.argmin(abs(grid - 5))] < 0.5 * density[np.argmin(abs(grid - 10))]
    assert chart_figure(pd.DataFrame({"x": values}), tile("violin", "x")).renderers


@pytest.mark.parametrize("values", [[], [np.nan], [3.0], [2.0, 2.0, 2.0]])
def test_violin_of_few_or_equal_values_does_not_fail(values):
    frame = pd.DataFrame({"x": pd.Series(values, dtype=float)})
    data = chart_data(frame, tile("violin", "x"))
    assert len(data["y"]) == len(data["density"])
    chart_figure(frame, tile("violin", "x"))


def test_area_is_a_sorted_filled_line():
    frame = pd.DataFrame({"t": pd.date_range("2021", periods=6, freq="D")[::-1], "y": ODD})
    data = chart_data(frame, tile("area", "t", "y"))
    assert data["y"] == [3.0, 2.0, 1.0]  # sorted by time (given newest first), odd values out
    assert data["x"] == sorted(data["x"])
    fig = chart_figure(frame, tile("area", "t", "y"))
    assert any(type(r.glyph).__name__ == "VArea" for r in fig.renderers)


def test_many_points_of_an_area_are_downsampled():
    frame = pd.DataFrame({"x": np.arange(50_000.0), "y": np.arange(50_000.0)})
    assert len(chart_data(frame, tile("area", "x", "y"))["x"]) <= MAX_POINTS


def test_hexbin_bins_many_points_and_drops_odd_ones():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=10_000), "b": rng.normal(scale=100, size=10_000)})
    frame.loc[:2, "a"] = [np.nan, np.inf, -np.inf]
    data = chart_data(frame, tile("hexbin", "a", "b"))
    assert len(data["x"]) == 9_997
    fig = chart_figure(frame, tile("hexbin", "a", "b"))
    hexes = next(r for r in fig.renderers if type(r.glyph).__name__ == "HexTile")
    counts = hexes.data_source.data["c"]
    assert sum(counts) == 9_997 and 20 < len(counts) < 9_997  # binned, not one hex per point


def test_hexbin_of_no_points_draws_an_empty_figure():
    frame = pd.DataFrame({"a": [np.nan], "b": [1.0]})
    assert chart_data(frame, tile("hexbin", "a", "b")) == {"x": [], "y": []}
    chart_figure(frame, tile("hexbin", "a", "b"))


def test_dot_plot_shows_counts_per_category_largest_on_top():
    frame = pd.DataFrame({"c": ["a"] * 5 + ["b"] * 2 + [None]})
    data = chart_data(frame, tile("dot", "c"))
    assert data == {"category": ["a", "b", "(missing)"], "count": [5, 2, 1]}
    fig = chart_figure(frame, tile("dot", "c"))
    assert list(fig.y_range.factors) == ["(missing)", "b", "a"]  # the largest at the top


def test_dot_plot_groups_many_categories():
    frame = pd.DataFrame({"c": [f"k{i}" for i in range(100)]})
    assert len(chart_data(frame, tile("dot", "c"))["category"]) == MAX_BARS


@pytest.mark.parametrize("chart,columns", [("histogram", ("a",)), ("box", ("a",)),
                                           ("violin", ("a",)), ("line", ("a", "b")),
                                           ("area", ("a", "b")), ("scatter", ("a", "b")),
                                           ("hexbin", ("a", "b")), ("bar", ("c",)),
                                           ("dot", ("c",))])
def test_every_chart_type_draws_with_odd_values(chart, columns):
    frame = pd.DataFrame({"a": ODD, "b": ODD[::-1], "c": ["x", "y", None, "x", "z", "x"]})
    assert chart_figure(frame, tile(chart, *columns)).renderers
