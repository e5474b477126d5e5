"""Data: reading tables, bundled samples, dataset profiles."""

from __future__ import annotations

from hub_kernel.data.io import (
    CsvSource,
    ExcelSource,
    JsonLinesSource,
    JsonSource,
    ParquetSource,
    Source,
    SourceInput,
    SourceRegistry,
    coerce_dates,
    get_source,
    list_sheets,
    load_dataset,
    read_table,
    register_source,
    source_registry,
)
from hub_kernel.data.large import SAMPLE_ROWS, LazyTable, is_lazy_input, open_table
from hub_kernel.data.large_profile import profile_table
from hub_kernel.data.profile import ColumnProfile, DatasetProfile, profile_dataset
from hub_kernel.data.samples import SAMPLES, sample_path

__all__ = [
    "SAMPLES",
    "SAMPLE_ROWS",
    "ColumnProfile",
    "CsvSource",
    "DatasetProfile",
    "ExcelSource",
    "JsonLinesSource",
    "JsonSource",
    "LazyTable",
    "ParquetSource",
    "Source",
    "SourceInput",
    "SourceRegistry",
    "coerce_dates",
    "get_source",
    "is_lazy_input",
    "list_sheets",
    "load_dataset",
    "open_table",
    "profile_dataset",
    "profile_table",
    "read_table",
    "register_source",
    "sample_path",
    "source_registry",
]
