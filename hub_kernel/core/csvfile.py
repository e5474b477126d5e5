"""CSV files hub writes for people to open in a spreadsheet: formula-safe (OWASP's CSV injection
advice).

A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return or a line feed (or
their full-width forms, which some spreadsheets also read as formulas) gets a leading ``'``, so
``=HYPERLINK(...)`` opens as text instead of running. Numbers stay numbers: ``-0.5`` (a float, or
text that is exactly a number) is written as is.
"""

from __future__ import annotations

import csv
import math
import numbers
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def formula_safe(value: Any) -> Any:
    """``value`` as a cell no spreadsheet runs: text that could start a formula gets a ``'``."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, numbers.Real) and math.isfinite(value):
        return value
    text = str(value)  # "-inf" too: a spreadsheet reads it as the formula =-inf
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def write_csv(path: str | os.PathLike[str], fieldnames: Sequence[str],
              rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``rows`` (dicts keyed by ``fieldnames``) to ``path`` with a header, every cell
    formula-safe; returns the path. Raises ``OSError`` if the file cannot be written."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(fieldnames))
        writer.writeheader()
        for row in rows:
            writer.writerow({key: formula_safe(value) for key, value in row.items()})
    return path
