"""``read_table``: resolve the input (path, bytes or URL), choose its source, read it, and
record what was read in ``frame.attrs["hub_source"]``.
"""

from __future__ import annotations

import logging
import os
import re
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pandas as pd

from hub_kernel.data.io.base import (
    Source,
    SourceInput,
    TableInput,
    check_columns,
    current_settings,
    unique_names,
)
from hub_kernel.data.io.dates import coerce_dates
from hub_kernel.data.io.download import URL_TIMEOUT, download_to_temp, is_url
from hub_kernel.data.io.excel import Workbook
from hub_kernel.data.io.registry import get_source, source_registry
from hub_kernel.data.samples import sample_path
from hub_kernel.exceptions import DataError, OptionValueError, UnknownOptionError

logger = logging.getLogger("hub_kernel")

_SUFFIX_HINTS = {".xls": "legacy Excel .xls is not supported; save it as .xlsx"}


def _resolve(
    value: TableInput,
    stack: ExitStack,
    *,
    name: str | None,
    progress: bool = False,
    timeout: float = URL_TIMEOUT,
) -> SourceInput:
    limit = current_settings().max_file_bytes
    if isinstance(value, bytes | bytearray | memoryview):
        data = value if isinstance(value, bytes) else bytes(value)
        label = name or "<bytes>"
        if len(data) > limit:
            raise DataError(
                label,
                f"is {len(data):,} bytes, more than the limit of {limit:,} bytes "
                "(setting HUB_MAX_FILE_BYTES)",
            )
        return SourceInput(label=label, name=name or "", data=data)
    if isinstance(value, str) and is_url(value):
        return download_to_temp(value, stack, name=name, progress=progress, timeout=timeout)
    if isinstance(value, str) and re.match(r"^[A-Za-z][A-Za-z0-9+.-]+://", value):
        raise DataError(value, "unsupported URL scheme: only http:// and https:// URLs are read")
    if not isinstance(value, str | os.PathLike):
        raise TypeError(f"expected a path, bytes or an http(s) URL, not {type(value).__name__}")
    path = Path(value)
    if not path.exists():
        raise DataError(path, "file not found")
    if path.is_dir():
        raise DataError(path, "is a folder, not a file")
    size = path.stat().st_size
    if size > limit:
        raise DataError(
            path,
            f"is {size:,} bytes, more than the limit of {limit:,} bytes "
            "(setting HUB_MAX_FILE_BYTES)",
        )
    return SourceInput(label=str(path), name=name or path.name, path=path)


def _choose(source: SourceInput, format: str | None) -> Source:
    if format is not None:
        return get_source(format)
    suffix = source.suffix
    found = source_registry.for_extension(suffix) if suffix else None
    found = found or source_registry.for_media_type(source.media_type)
    if found is not None:
        return found
    supported = ", ".join(source_registry.extensions())
    if suffix and source.path is not None and source.media_type is None:
        hint = _SUFFIX_HINTS.get(suffix, f"supported: {supported}")
        raise source.error(f"unsupported file type {suffix!r}; {hint}")
    sniffed = source_registry.sniff(source.head(1 << 16))
    if sniffed is not None:
        return sniffed
    what = f"file type {suffix!r}" if suffix else "file type (no known extension)"
    raise source.error(
        f"unsupported {what}, and the content is not recognised; supported: {supported}"
    )


def _finish(frame: pd.DataFrame, source: SourceInput, reader: Source) -> pd.DataFrame:
    info: dict[str, Any] = dict(frame.attrs.get("hub_source") or {})
    if frame.shape[1] == 0:
        raise source.error("has no columns")
    check_columns(source, frame.shape[1])
    if not isinstance(frame.columns, pd.MultiIndex):
        names, renamed = unique_names(list(frame.columns))
        if names != list(frame.columns):
            frame.columns = pd.Index(names, dtype=object)
        if renamed:
            info.setdefault("renamed_columns", {}).update(renamed)
            logger.info("%s: renamed columns %s", source.label, renamed)
    frame.attrs = {}
    frame = coerce_dates(frame)
    frame.attrs["hub_source"] = {
        "format": reader.name,
        "source": source.label,
        "encoding": None,
        "delimiter": None,
        "sheet": None,
        **info,
        "rows": len(frame),
        "columns": frame.shape[1],
        "warnings": list(info.get("warnings", [])),
    }
    return frame


# ---------------------------------------------------------------------------------------------
# Public functions


def read_table(
    path_or_bytes_or_url: TableInput,
    *,
    name: str | None = None,
    sheet: str | int | None = None,
    progress: bool = False,
    format: str | None = None,
    timeout: float = URL_TIMEOUT,
    **options: Any,
) -> pd.DataFrame:
    """Read a table from a path, bytes or an http(s) URL into a DataFrame.

    ``name`` is the file name of bytes (it selects the format and names the input in errors);
    ``format`` names a registered source instead of detecting one; ``sheet`` picks an Excel
    sheet; ``progress`` shows a progress bar (tqdm, else log lines) for large reads and
    downloads; ``timeout`` bounds each network wait; other ``options`` go to the source (e.g.
    ``delimiter``, ``encoding``, ``on_bad_lines`` for CSV). Text columns holding dates become
    datetime columns; ``frame.attrs["hub_source"]`` records what was read.

    Raises ``DataError`` naming the input and the problem when it cannot be read.
    """
    with ExitStack() as stack:
        source = _resolve(
            path_or_bytes_or_url, stack, name=name, progress=progress, timeout=timeout
        )
        if source.size == 0:
            raise source.error("file is empty")
        reader = _choose(source, format)
        try:
            frame = reader.read(source, sheet=sheet, progress=progress, **options)
        except (DataError, UnknownOptionError, OptionValueError):
            raise
        except RecursionError:
            raise source.error(f"nested too deeply to be parsed as {reader.name}") from None
        except MemoryError:
            raise source.error("too large to load into memory") from None
        except Exception as exc:  # readers raise many types for malformed input
            raise source.error(
                f"cannot be parsed as {reader.name.upper()}: {type(exc).__name__}: {exc}"
            ) from exc
        return _finish(frame, source, reader)


def list_sheets(
    path_or_bytes_or_url: TableInput, *, name: str | None = None, timeout: float = URL_TIMEOUT
) -> list[str]:
    """The sheet names of an Excel workbook, in order (``DataError`` if it is not one)."""
    with ExitStack() as stack:
        source = _resolve(path_or_bytes_or_url, stack, name=name, timeout=timeout)
        if source.size == 0:
            raise source.error("file is empty")
        with Workbook(source) as book:
            return list(book.book.sheetnames)


def load_dataset(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """The dataset to show: ``path``, else ``HUB_DATASET``, else the bundled sample."""
    chosen = path or current_settings().dataset or sample_path()
    logger.info("loading dataset %s", chosen)
    return read_table(chosen)
