"""Data: reading tables, bundled samples, dataset profiles."""

from __future__ import annotations

from hub_kernel.data.profile import ColumnProfile, DatasetProfile, profile_dataset
from hub_kernel.data.samples import SAMPLES, sample_path
from hub_kernel.data.sources import load_dataset, read_table

__all__ = [
    "SAMPLES",
    "ColumnProfile",
    "DatasetProfile",
    "load_dataset",
    "profile_dataset",
    "read_table",
    "sample_path",
]
