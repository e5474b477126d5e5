"""The Parquet source.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa

from hub_kernel.data.io.base import Source, SourceInput, check_columns
from hub_kernel.data.io.budget import CELL_BYTES, check_memory, count, frame_bytes
from hub_kernel.data.io.progress import Progress
from hub_kernel.exceptions import DataError, UnknownOptionError

_TEXT_BYTES = 32  # a text value's length when the statistics do not tell
_NESTED_BYTES = 64  # a list or struct value becomes a Python object


def _cell_bytes(arrow_type: pa.DataType, longest: int | None) -> int:
    """What one value of ``arrow_type`` takes in the frame (``longest``: its longest text)."""
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or (
        pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type)
    ):
        return CELL_BYTES + (_TEXT_BYTES if longest is None else longest)
    if pa.types.is_nested(arrow_type):
        return _NESTED_BYTES
    try:
        return max(CELL_BYTES, arrow_type.bit_width // 8)
    except ValueError:  # no fixed width (decimal, extension types)
        return _NESTED_BYTES


def _longest_texts(metadata: Any) -> dict[str, int]:
    """The longest min/max statistic of each top-level text column, over the row groups."""
    found: dict[str, int] = {}
    for group in range(min(metadata.num_row_groups, 1_000)):
        row_group = metadata.row_group(group)
        for index in range(row_group.num_columns):
            chunk = row_group.column(index)
            stats = chunk.statistics
            if stats is None or not stats.has_min_max or "." in chunk.path_in_schema:
                continue
            if isinstance(stats.min, str | bytes) and isinstance(stats.max, str | bytes):
                length = max(len(stats.min), len(stats.max))
                found[chunk.path_in_schema] = max(found.get(chunk.path_in_schema, 0), length)
    return found


def _check_budget(source: SourceInput, parquet: Any, columns: list[str] | None) -> None:
    """Refuse a file whose metadata (rows x columns) says it would not fit the budget."""
    schema = parquet.schema_arrow
    fields = [schema.field(name) for name in columns if name in schema.names] if columns else list(
        schema
    )
    rows = parquet.metadata.num_rows
    longest = _longest_texts(parquet.metadata)
    row_bytes = sum(_cell_bytes(field.type, longest.get(field.name)) for field in fields)
    check_memory(
        source,
        frame_bytes(rows, len(fields), row_bytes=row_bytes),
        f"{count(rows, 'row')} × {count(len(fields), 'column')} in its metadata",
    )


class ParquetSource(Source):
    """Apache Parquet files; ``columns=`` reads only those columns."""

    name = "parquet"
    extensions = (".parquet", ".pq")
    media_types = ("application/vnd.apache.parquet", "application/x-parquet")

    def sniff(self, head: bytes) -> bool:
        return head.startswith(b"PAR1")

    def read(
        self,
        source: SourceInput,
        *,
        sheet: str | int | None = None,
        progress: bool = False,
        columns: list[str] | None = None,
        **options: Any,
    ) -> pd.DataFrame:
        self.reject_sheet(source, sheet)
        if options:
            raise UnknownOptionError(f"unknown Parquet option(s): {', '.join(sorted(options))}")
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(source.arrow_file())
            check_columns(source, len(columns) if columns else len(parquet.schema_arrow))
            _check_budget(source, parquet, columns)
            groups = parquet.metadata.num_row_groups
            if progress and groups > 1:
                with Progress(groups, source.label, True) as bar:
                    tables = []
                    for index in range(groups):
                        tables.append(parquet.read_row_group(index, columns=columns))
                        bar.set(index + 1)
                table = pa.concat_tables(tables)
            else:
                table = parquet.read(columns=columns)
            frame = table.to_pandas()
        except DataError:
            raise
        except (pa.ArrowException, OSError, ValueError, KeyError) as exc:
            raise source.error(f"cannot be parsed as PARQUET: {exc}") from None
        frame.attrs["hub_source"] = {"format": self.name}
        return frame
