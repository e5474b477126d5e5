"""How hub writes a number in sentences, tiles and reports (one rule everywhere)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def format_number(value: Any) -> str:
    """How a fact's value is written in its text (and how reports should write it).

    Integers with thousands separators (``12,345``); floats with 4 significant digits, in
    scientific notation when tiny or huge (``0.5123``, ``1.2e-05``); text as is; ``None`` as
    ``n/a``.
    """
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        number = float(value)
        if not math.isfinite(number):
            return str(number)
        if number == 0:
            return "0"
        if abs(number) >= 1e6 or abs(number) < 1e-3:
            return f"{number:.3g}"
        return f"{number:.4g}"
    return str(value)
