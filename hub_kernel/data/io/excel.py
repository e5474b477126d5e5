"""The Excel source: .xlsx/.xlsm workbooks read with openpyxl, after a zip-bomb check.
"""

from __future__ import annotations

import warnings
import zipfile
from typing import Any

import pandas as pd

from hub_kernel.data.io.base import (
    Source,
    SourceInput,
    check_columns,
    current_settings,
    unique_names,
)
from hub_kernel.data.io.budget import CELL_BYTES, COPIES, check_memory, count, frame_bytes
from hub_kernel.exceptions import DataError, OptionValueError, UnknownOptionError

# a shared string of n characters, ``<si><t>..</t></si>`` (n + 15 bytes of XML), becomes a Python
# str (49 + n bytes) and openpyxl's index of it (~95 bytes): measured 5.6 bytes of memory per
# byte of XML for five million one-character strings, about 7 for distinct ones
_STRING_BYTES_PER_XML_BYTE = 8


class Workbook:
    """An xlsx opened read-only, after its uncompressed size was checked against the limit."""

    def __init__(self, source: SourceInput) -> None:
        self.source = source
        self._handle = source.open()
        try:
            archive = zipfile.ZipFile(self._handle)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            self._handle.close()
            raise source.error(
                f"not a valid xlsx file: the zip archive is truncated or damaged ({exc})"
            ) from None
        with archive:
            members = archive.infolist()
            names = {m.filename for m in members}
        total = sum(m.file_size for m in members)
        limit = current_settings().max_uncompressed_bytes
        if total > limit:
            self._handle.close()
            raise source.error(
                f"uncompressed size of {total:,} bytes exceeds the limit of {limit:,} bytes "
                "(setting HUB_MAX_UNCOMPRESSED_BYTES); not expanded"
            )
        if "xl/workbook.xml" not in names:
            self._handle.close()
            raise source.error("is a zip archive but not an Excel workbook (no xl/workbook.xml)")
        # openpyxl loads the shared strings table whole, before any row is read
        strings = sum(m.file_size for m in members if m.filename.lower().endswith("strings.xml"))
        try:
            check_memory(
                source, strings * _STRING_BYTES_PER_XML_BYTE,
                f"its shared strings table of {strings:,} bytes of XML",
            )
        except DataError:
            self._handle.close()
            raise
        import openpyxl

        self._handle.seek(0)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.book = openpyxl.load_workbook(self._handle, read_only=True, data_only=True)
        except Exception as exc:
            self._handle.close()
            raise source.error(
                f"cannot be read as an Excel workbook: {type(exc).__name__}: {exc}"
            ) from None

    def sheet(self, sheet: str | int | None) -> Any:
        names = list(self.book.sheetnames)
        listed = ", ".join(repr(n) for n in names)
        if sheet is None:
            sheet = 0
        if isinstance(sheet, bool) or not isinstance(sheet, int | str):
            raise OptionValueError("sheet must be a sheet name or a 0-based index")
        if isinstance(sheet, int):
            if not 0 <= sheet < len(names):
                raise self.source.error(f"has no sheet {sheet}; sheets (0-based): {listed}")
            sheet = names[sheet]
        if sheet not in names:
            raise self.source.error(f"has no sheet named {sheet!r}; sheets: {listed}")
        worksheet = self.book[sheet]
        if not hasattr(worksheet, "iter_rows"):
            raise self.source.error(f"sheet {sheet!r} is a chart, not a table")
        return worksheet

    def close(self) -> None:
        self.book.close()
        self._handle.close()

    def __enter__(self) -> Workbook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_ROW_CELL_BYTES = CELL_BYTES * 2  # the row's tuple, then its padded copy


def _sheet_bytes(rows: int, width: int) -> int:
    return frame_bytes(rows, width, row_bytes=width * (CELL_BYTES + _ROW_CELL_BYTES / COPIES))


def _check_declared(source: SourceInput, worksheet: Any) -> None:
    """Refuse a sheet whose declared dimensions would not fit the memory budget."""
    rows, width = worksheet.max_row, worksheet.max_column
    if isinstance(rows, int) and isinstance(width, int) and rows > 0 and width > 0:
        check_memory(
            source,
            _sheet_bytes(rows, width),
            f"sheet {worksheet.title!r} declares {count(rows, 'row')} × "
            f"{count(width, 'column')}",
        )


def _check_read(source: SourceInput, title: str, rows: int, width: int) -> None:
    """Refuse a sheet once the rows read so far, padded to its width, exceed the budget
    (declared dimensions may understate them)."""
    check_memory(
        source,
        _sheet_bytes(rows, width),
        f"sheet {title!r} has at least {count(rows, 'row')} × {count(width, 'column')}",
    )


def _trim(row: tuple[Any, ...]) -> tuple[Any, ...]:
    end = len(row)
    while end and (row[end - 1] is None or row[end - 1] == ""):
        end -= 1
    return row[:end]


class ExcelSource(Source):
    """Excel workbooks (.xlsx, .xlsm), read with openpyxl in read-only mode.

    ``sheet=`` is a name or a 0-based index (default the first sheet). The first non-blank row is
    the header; blank rows are skipped; formulas give their cached values.
    """

    name = "excel"
    extensions = (".xlsx", ".xlsm")
    media_types = (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-excel.sheet.macroenabled.12",
    )

    def sniff(self, head: bytes) -> bool:
        return head.startswith(b"PK\x03\x04")

    def read(
        self,
        source: SourceInput,
        *,
        sheet: str | int | None = None,
        progress: bool = False,
        **options: Any,
    ) -> pd.DataFrame:
        if options:
            raise UnknownOptionError(f"unknown Excel option(s): {', '.join(sorted(options))}")
        limit = current_settings().max_columns
        with Workbook(source) as book:
            worksheet = book.sheet(sheet)
            _check_declared(source, worksheet)
            worksheet.reset_dimensions()  # declared dimensions may lie: pad nothing
            header: tuple[Any, ...] | None = None
            rows: list[tuple[Any, ...]] = []
            width = 0
            try:
                for values in worksheet.iter_rows(values_only=True):
                    row = _trim(values)
                    if not row:
                        continue
                    if len(row) > width:
                        width = len(row)
                        if width > limit:
                            check_columns(source, width)
                        _check_read(source, worksheet.title, len(rows) + 1, width)
                    elif len(rows) % max(1, 2**20 // width) == 0:  # each million cells
                        _check_read(source, worksheet.title, len(rows) + 1, width)
                    if header is None:
                        header = row
                    else:
                        rows.append(row)
            except DataError:
                raise
            except Exception as exc:  # damaged XML or zip member
                raise source.error(
                    f"sheet {worksheet.title!r} cannot be read: {type(exc).__name__}: {exc}"
                ) from None
            title = worksheet.title
        if header is None:
            raise source.error(f"sheet {title!r} is empty")
        names, renamed = unique_names([*header, *([None] * (width - len(header)))])
        padded = [row + (None,) * (width - len(row)) for row in rows]
        frame = (
            pd.DataFrame(padded, columns=names)
            if padded
            else pd.DataFrame({name: pd.Series([], dtype=object) for name in names})
        )
        info: dict[str, Any] = {"format": self.name, "sheet": title}
        if renamed:
            info["renamed_columns"] = renamed
        if not rows:
            info["warnings"] = [f"no data rows: sheet {title!r} has only a header"]
        frame.attrs["hub_source"] = info
        return frame


# ---------------------------------------------------------------------------------------------
# JSON and JSON Lines
