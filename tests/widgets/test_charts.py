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
