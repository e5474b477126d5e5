"""Text that holds dates or numbers.

``coerce_dates`` turns text columns holding dates into datetime columns (``read_table`` does it
on every table); ``as_numbers`` and ``as_dates`` parse text leniently, for the validation check
that flags numbers or dates stored as text.
"""

from __future__ import annotations

import re
import warnings

import pandas as pd

# a text column becomes a date column when this share of its sampled non-null values parse
_DATE_SHARE = 0.95
_DATE_SAMPLE = 200
_DATE_SCAN = 2000  # leading values looked at to find the sample
# what every sampled value must contain to be tried as a date: 2024-01-31, 1/31/24, 12:30,
# 31 Jan, Jan 31 (so "1,5", "w123x" or "7" are never parsed as dates)
_DATE_LIKE = re.compile(r"\d[-/.: T]\d|\d[-/ ][A-Za-z]{3}|[A-Za-z]{3}[-/ ]\d")


def coerce_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """Convert text columns whose values are dates into datetime columns (in a shallow copy).

    A column is converted when its first (up to 200) non-missing values all look like dates
    (digits with date or time separators, or a month name) and at least 95% of them parse.
    """
    out = frame.copy(deep=False)
    attrs, out.attrs = out.attrs, {}  # pandas copies attrs on every operation: not in the loop
    textual = [
        i
        for i, dtype in enumerate(out.dtypes)
        if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)
    ]
    if textual:
        rows = min(_DATE_SCAN, max(20, 200_000 // len(textual)))
        head = out.iloc[:rows, textual].to_numpy(dtype=object)
        for j, position in enumerate(textual):
            values = [v for v in head[:, j] if not _missing(v)]
            if not values:
                column = out.iloc[:, position]
                values = _leading_values(column).tolist()
            sample = values[:_DATE_SAMPLE]
            if not sample or not all(isinstance(v, str) and _DATE_LIKE.search(v) for v in sample):
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                parsed = pd.to_datetime(pd.Series(sample, dtype=object), errors="coerce")
                if parsed.notna().mean() >= _DATE_SHARE:
                    converted = pd.to_datetime(out.iloc[:, position], errors="coerce")
                    out.isetitem(position, converted)
    out.attrs = attrs
    return out


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _leading_values(column: pd.Series) -> pd.Series:
    """Non-missing values from the start of ``column``, without copying the whole column."""
    head = column.iloc[:_DATE_SCAN].dropna()
    if head.empty:
        present = column.notna().to_numpy()
        if not present.any():
            return head
        start = int(present.argmax())
        head = column.iloc[start : start + _DATE_SCAN].dropna()
    return head


def as_numbers(text: pd.Series) -> pd.Series:
    """``text`` parsed as numbers, thousands separators allowed (``1,234``); NaN where not."""
    return pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce")


def as_dates(text: pd.Series) -> pd.Series:
    """``text`` parsed as dates written in any mix of formats; NaT where not."""
    return pd.to_datetime(text, errors="coerce", format="mixed")
