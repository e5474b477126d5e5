"""How hub writes a number in sentences, tiles and reports (one rule everywhere)."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

#: p-values below this are beyond what a double computes reliably: written "< 1e-16"
P_FLOOR = 1e-16
_YEAR_OR_ID = re.compile(r"(^|[^a-z])(year|yr|id|code|zip|postcode|number|no)([^a-z]|$)",
                         re.IGNORECASE)


def format_number(value: Any, *, plain: bool = False, p_value: bool = False) -> str:
    """How a value is written in a fact's text, a tile or a report.

    Integers with thousands separators (``12,345``), or without when ``plain`` (years, ids:
    ``2003``; a ``plain`` float from 1000 up as a whole number: a mean year ``2006``); floats
    with 4 significant digits, in scientific notation only below 1e-3 or from 1e6 up
    (``0.5123``, ``12,346``, ``1.2e-05``); a ``p_value`` below 1e-16 as
    ``< 1e-16`` (a computed 0 is not zero); text as is; ``None`` as ``n/a``.
    """
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | np.integer):
        if p_value and int(value) == 0:
            return f"< {P_FLOOR:.0e}"
        return str(int(value)) if plain else f"{int(value):,}"
    if isinstance(value, float | np.floating):
        number = float(value)
        if not math.isfinite(number):
            return str(number)
        if p_value and number < P_FLOOR:
            return f"< {P_FLOOR:.0e}"
        if plain and (number.is_integer() or abs(number) >= 1000):
            return f"{number:.0f}"  # a year or an id: 2003, 101500; never 1.02e+05
        if number == 0:
            return "0"
        if abs(number) >= 1e6 or abs(number) < 1e-3:
            return f"{number:.3g}"
        if abs(number) >= 1e4:
            return f"{number:,.0f}"
        return f"{number:.4g}"
    return str(value)


def plain_integers(name: str, minimum: float | None = None, maximum: float | None = None,
                   *, integer: bool = True) -> bool:
    """Whether a column's whole numbers are labels written without separators: years
    (named so, or all between 1800 and 2200) and identifiers or codes (named so)."""
    if not integer:
        return False
    if _YEAR_OR_ID.search(str(name)):
        return True
    if minimum is None or maximum is None:
        return False
    return 1800 <= float(minimum) <= float(maximum) <= 2200
