"""Numbers written for people: one rule in facts, tiles and reports."""

from __future__ import annotations

import numpy as np
import pytest

from hub_kernel.core.formatting import format_number, plain_integers


@pytest.mark.parametrize(("value", "kwargs", "text"), [
    (12345.6, {}, "12,346"),
    (250_000.0, {}, "250,000"),
    (2_500_000.0, {}, "2.5e+06"),
    (2003, {}, "2,003"),
    (2003, {"plain": True}, "2003"),
    (np.float64(2003.0), {"plain": True}, "2003"),
    (2005.6, {"plain": True}, "2006"),
    (101500.5, {"plain": True}, "101500"),
    (12_345_678.0, {"plain": True}, "12345678"),
    (0.25, {"plain": True}, "0.25"),
    (0.0, {"p_value": True}, "< 1e-16"),
    (3e-20, {"p_value": True}, "< 1e-16"),
    (0, {"p_value": True}, "< 1e-16"),
    (0.0312, {"p_value": True}, "0.0312"),
    (2e-7, {"p_value": True}, "2e-07"),
    (0.0, {}, "0"),
])
def test_format_number(value, kwargs, text):
    assert format_number(value, **kwargs) == text


def test_years_and_ids_are_told_apart_from_amounts():
    assert plain_integers("year", 2003, 2009)
    assert plain_integers("founded", 1850, 2020)
    assert plain_integers("customer_id", 1, 99_999)
    assert not plain_integers("price", 10, 99_999)
    assert not plain_integers("year", 2003.5, 2009, integer=False)
