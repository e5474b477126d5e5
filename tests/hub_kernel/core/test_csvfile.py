"""Formula-safe CSV cells: what could start a formula becomes text, numbers stay numbers."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from hub_kernel.core.csvfile import formula_safe, write_csv


@pytest.mark.parametrize("cell", ["=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1", "\n=1",
                                  "\uff1d1+1", "-inf", "-", "=", "+ 1"])
def test_a_cell_that_could_start_a_formula_gets_a_quote(cell):
    assert formula_safe(cell) == "'" + cell


@pytest.mark.parametrize("cell", [-0.5, 3, np.float64(-2.5), np.int64(-7), "-0.5", "+1e3", "1,5",
                                  "plain", "", "a=b", None, True])
def test_numbers_and_plain_text_are_left_alone(cell):
    assert formula_safe(cell) == cell


def test_write_csv_writes_every_cell_safe(tmp_path):
    path = write_csv(tmp_path / "out.csv", ["a", "b"],
                     [{"a": "=cmd|' /C calc'!A0", "b": -0.5}, {"a": "ok", "b": None}])
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert rows == [{"a": "'=cmd|' /C calc'!A0", "b": "-0.5"}, {"a": "ok", "b": ""}]
