"""The Parquet source.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa

from hub_kernel.data.io.base import Source, SourceInput, check_columns
from hub_kernel.data.io.progress import Progress
from hub_kernel.exceptions import DataError, UnknownOptionError


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
