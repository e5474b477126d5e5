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
from hub_kernel.data.profile import ColumnProfile, DatasetProfile, profile_dataset
from hub_kernel.data.samples import SAMPLES, sample_path

__all__ = [
    "SAMPLES",
    "ColumnProfile",
    "CsvSource",
    "DatasetProfile",
    "ExcelSource",
    "JsonLinesSource",
    "JsonSource",
    "ParquetSource",
    "Source",
    "SourceInput",
    "SourceRegistry",
    "coerce_dates",
    "get_source",
    "list_sheets",
    "load_dataset",
    "profile_dataset",
    "read_table",
    "register_source",
    "sample_path",
    "source_registry",
]
