"""What every source shares: the input being read (``SourceInput``), the ``Source`` base
class, and the checks and column naming all formats apply.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, ClassVar

import pandas as pd
import pyarrow as pa

from hub_kernel.core import config
from hub_kernel.core.config import Settings
from hub_kernel.exceptions import DataError

logger = logging.getLogger("hub_kernel")

TableInput = str | os.PathLike[str] | bytes | bytearray | memoryview
SNIFF_BYTES = 1 << 20  # read to detect format, encoding and delimiter


def current_settings() -> Settings:
    """hub's settings now (not a copy: ``reload_settings()`` replaces them)."""
    return config.get_settings()


@dataclass
class SourceInput:
    """One input to read: a file, bytes in memory, or a downloaded URL (kept in a temp file).

    ``label`` is what error messages name (path, URL or the given name); ``name`` is the file name
    whose extension selects the format.
    """

    label: str
    name: str
    path: Path | None = None
    data: bytes | None = None
    media_type: str | None = None

    @property
    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        assert self.path is not None
        return self.path.stat().st_size

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix.lower()

    def open(self) -> IO[bytes]:
        """A binary file object over the input (from the start)."""
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return open(self.path, "rb", buffering=0)

    def head(self, n: int = SNIFF_BYTES) -> bytes:
        """The first ``n`` bytes."""
        if self.data is not None:
            return bytes(self.data[:n])
        with self.open() as handle:
            return handle.read(n)

    def read_bytes(self) -> bytes:
        """The whole input (its size was checked against ``HUB_MAX_FILE_BYTES``)."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()

    def arrow_file(self) -> pa.NativeFile:
        """A pyarrow random-access file over the input, without copying it."""
        if self.data is not None:
            return pa.BufferReader(self.data)
        return pa.memory_map(str(self.path), "r")

    def error(self, reason: str) -> DataError:
        return DataError(self.label, reason)



class Source:
    """One kind of table file. Subclasses set ``name`` and ``extensions`` and implement ``read``.

    ``sniff`` recognises the format from the first bytes of an input whose name has no known
    extension. ``read`` returns a DataFrame; it may put what it found (encoding, delimiter,
    sheet, warnings) in ``frame.attrs["hub_source"]``. It raises ``DataError`` for bad input;
    anything else it raises is turned into one by ``read_table``.
    """

    name: ClassVar[str] = ""
    extensions: ClassVar[tuple[str, ...]] = ()
    media_types: ClassVar[tuple[str, ...]] = ()

    def sniff(self, head: bytes) -> bool:
        """Whether ``head`` (the first bytes of an input) looks like this format."""
        return False

    def read(
        self,
        source: SourceInput,
        *,
        sheet: str | int | None = None,
        progress: bool = False,
        **options: Any,
    ) -> pd.DataFrame:
        """Read ``source`` into a DataFrame."""
        raise NotImplementedError

    def reject_sheet(self, source: SourceInput, sheet: str | int | None) -> None:
        """Raise a ``DataError`` if ``sheet`` was given: only workbooks have sheets."""
        if sheet is not None:
            raise source.error(f"sheet={sheet!r} applies to Excel workbooks, not {self.name}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {', '.join(self.extensions)}>"


def unique_names(names: list[Any]) -> tuple[list[str], dict[str, str]]:
    """Column names made unique (``a``, ``a.1``, ...), blanks named ``Unnamed: i``.

    Returns the names and ``{new name: original}`` for every name that changed.
    """
    texts = ["" if n is None else str(n) for n in names]
    taken = set(texts)
    out: list[str] = []
    used: set[str] = set()
    renamed: dict[str, str] = {}
    for i, text in enumerate(texts):
        new = text if text.strip() else f"Unnamed: {i}"
        if new in used or (new != text and new in taken):
            base, k = new, 1
            while f"{base}.{k}" in used or f"{base}.{k}" in taken:
                k += 1
            new = f"{base}.{k}"
        used.add(new)
        out.append(new)
        if new != text:
            renamed[new] = text
    return out, renamed


def check_columns(source: SourceInput, n_columns: int) -> None:
    limit = current_settings().max_columns
    if n_columns > limit:
        raise source.error(
            f"has {n_columns} columns, more than the limit of {limit} (setting HUB_MAX_COLUMNS)"
        )


def add_warning(info: dict[str, Any], source: SourceInput, message: str) -> None:
    info.setdefault("warnings", []).append(message)
    logger.warning("%s: %s", source.label, message)


# ---------------------------------------------------------------------------------------------
