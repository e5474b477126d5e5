"""Parsed CSV slices collected into one DataFrame, and the column types that hold every slice.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa


def large_type(arrow_type: pa.DataType) -> pa.DataType:
    """``large_string`` for text: what pandas' string columns hold, so no cast at the end."""
    return pa.large_string() if pa.types.is_string(arrow_type) else arrow_type


def _numpy_dtype(arrow_type: pa.DataType) -> np.dtype[Any] | None:
    """The numpy dtype a column is collected into, or None to keep it as Arrow chunks."""
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type):
        return np.dtype(arrow_type.to_pandas_dtype())
    if pa.types.is_timestamp(arrow_type) and arrow_type.tz is None:
        return np.dtype(f"datetime64[{arrow_type.unit}]")
    if pa.types.is_date32(arrow_type) or pa.types.is_date64(arrow_type):
        return np.dtype("datetime64[ms]")
    return None


class FrameBuilder:
    """Collects parsed slices into a DataFrame, converting each slice as it arrives.

    Numeric and date columns are copied into numpy arrays allocated once with room for the whole
    file (estimated from the first slice; pages never written cost no memory) and grown if the
    estimate was short. Other columns (text) keep their Arrow chunks, handed to pandas at the end
    without copying the text. A slice's Arrow data is freed as soon as it is converted.
    """

    def __init__(self, names: list[str], total_bytes: int) -> None:
        self.names = names
        self.rows = 0
        self._total_bytes = total_bytes
        self._arrays: dict[str, np.ndarray[Any, Any]] = {}
        self._chunks: dict[str, list[pa.Array]] = {}
        self._types: dict[str, pa.DataType] = {}
        self._capacity = 0

    def add(self, table: pa.Table, nbytes: int) -> None:
        n = table.num_rows
        if not self._types:
            self._types = dict(zip(self.names, map(large_type, table.schema.types), strict=True))
            self._capacity = int(n * self._total_bytes / max(nbytes, 1) * 1.25) + 1024
            for name, arrow_type in self._types.items():
                dtype = _numpy_dtype(arrow_type)
                if dtype is None:
                    self._chunks[name] = []
                else:
                    self._arrays[name] = np.empty(self._capacity, dtype=dtype)
        if self.rows + n > self._capacity:
            self._grow(max(self.rows + n, self._capacity * 3 // 2))
        for name, column in zip(self.names, table.columns, strict=True):
            if name in self._chunks:
                if column.type != self._types[name]:
                    column = column.cast(self._types[name])
                self._chunks[name].extend(column.chunks)
                continue
            position = self.rows
            for chunk in column.chunks:
                if pa.types.is_date32(chunk.type) or pa.types.is_date64(chunk.type):
                    chunk = chunk.cast(pa.timestamp("ms"))
                values = chunk.to_numpy(zero_copy_only=False)
                target = self._arrays[name]
                if values.dtype != target.dtype:  # ints with a missing value become floats
                    widened = np.empty(self._capacity, dtype=np.result_type(values, target))
                    widened[:position] = target[:position]
                    self._arrays[name] = target = widened
                target[position : position + len(values)] = values
                position += len(values)
        self.rows += n

    def _grow(self, capacity: int) -> None:
        for name, array in self._arrays.items():
            grown = np.empty(capacity, dtype=array.dtype)
            grown[: self.rows] = array[: self.rows]
            self._arrays[name] = grown
        self._capacity = capacity

    def finish(self) -> pd.DataFrame:
        text = [name for name in self.names if name in self._chunks]
        converted = pd.DataFrame()
        if text:  # one conversion for all of them: cheaper than one per column when wide
            table = pa.table(
                {name: pa.chunked_array(self._chunks.pop(name), self._types[name]) for name in text}
            )
            converted = table.to_pandas(date_as_object=False, split_blocks=True)
            del table
        columns: dict[str, Any] = {}
        for name in self.names:
            if name in self._arrays:
                columns[name] = self._arrays.pop(name)[: self.rows]
            elif name in converted:
                columns[name] = converted[name].array
            else:  # a header and no rows
                columns[name] = np.empty(0, dtype=object)
        return pd.DataFrame(columns, copy=False)



def merge_types(old: pa.DataType, new: pa.DataType) -> pa.DataType:
    """A type holding the values of both, as whole-file inference would have chosen."""
    if old == new or pa.types.is_null(new):
        return old if not pa.types.is_null(old) else pa.large_string()
    if pa.types.is_null(old):
        return new
    numeric = (pa.types.is_integer, pa.types.is_floating)
    if any(f(old) for f in numeric) and any(f(new) for f in numeric):
        return pa.float64()
    temporal = (pa.types.is_timestamp, pa.types.is_date)
    if any(f(old) for f in temporal) and any(f(new) for f in temporal):
        return pa.timestamp("ns")
    return pa.large_string()

