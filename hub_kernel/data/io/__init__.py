"""Reading tables into pandas DataFrames: a registry of sources, one module per format.

A *source* is one kind of file hub can read (CSV, Excel, JSON, JSON Lines, Parquet). Sources are
registered by name, as papermill registers its engines: ``register_source`` adds one (third-party
packages may also declare an entry point in the ``hub.sources`` group), ``get_source(name)``
returns one and raises ``RegistryError`` with the known names otherwise. ``read_table`` picks the
source by the file extension of the path, URL or ``name=`` given, else by the media type of a
download, else by sniffing the first bytes (zip -> xlsx, ``PAR1`` -> Parquet, ``[``/``{`` ->
JSON, text -> CSV), and reads from a path, from bytes or from an http(s) URL.

Every failure a user can cause is a ``DataError`` whose message names the file (or URL, or the
``name=`` given with bytes) and the reason; limits from ``core.config`` are enforced before
input is expanded in memory (file size, uncompressed size of a workbook, JSON depth, columns,
and the memory one ingest may take, ``HUB_INGEST_MEMORY_BYTES``, estimated by each format from
what the file declares: see ``budget``). URL downloads refuse private, loopback and link-local
hosts on every hop unless ``HUB_URL_ALLOW_PRIVATE``, and are bounded in size and overall time
(see ``download``).
Duplicate column names are made unique (``a``, ``a.1``), blank ones become ``Unnamed: i``; both
are recorded. Column names are kept literally (``<script>`` stays text; escaping is the
renderer's job). What was read is recorded in ``frame.attrs["hub_source"]``: format, source,
encoding, delimiter, sheet, rows, columns, renamed columns, warnings.

Modules: ``base`` (``SourceInput``, ``Source``), ``registry``, ``read`` (``read_table``,
``list_sheets``, ``load_dataset``), one per format (``csv`` with ``csv_detect``, ``csv_stream``
and ``csv_frame``; ``excel``; ``json``; ``parquet``), ``budget``, ``download`` and ``dates``.
"""

from __future__ import annotations

from hub_kernel.data.io.base import Source, SourceInput, TableInput
from hub_kernel.data.io.csv import CsvSource
from hub_kernel.data.io.dates import coerce_dates
from hub_kernel.data.io.download import downloaded, public_url
from hub_kernel.data.io.excel import ExcelSource
from hub_kernel.data.io.json import JsonLinesSource, JsonSource
from hub_kernel.data.io.parquet import ParquetSource
from hub_kernel.data.io.read import list_sheets, load_dataset, read_table
from hub_kernel.data.io.registry import SourceRegistry, get_source, register_source, source_registry

__all__ = [
    "CsvSource",
    "ExcelSource",
    "JsonLinesSource",
    "JsonSource",
    "ParquetSource",
    "Source",
    "SourceInput",
    "SourceRegistry",
    "TableInput",
    "coerce_dates",
    "downloaded",
    "get_source",
    "list_sheets",
    "load_dataset",
    "public_url",
    "read_table",
    "register_source",
    "source_registry",
]
