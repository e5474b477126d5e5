"""The memory budget of one ingest (``HUB_INGEST_MEMORY_BYTES``, default a quarter of this
machine's memory), checked before a frame is built.

Each source estimates what loading its input would take from what the input declares before
it is expanded: the rows and columns in Parquet metadata, an xlsx sheet's dimensions (and the
rows and width read so far), the union of the flattened keys of JSON records (and the Python
objects parsing the text makes), a CSV's header and line length. An estimate over the budget is
refused with a ``DataError`` naming the file, the estimate and the budget.

The estimate is deliberately on the high side: a cell costs ``CELL_BYTES`` in the frame, and an
ingest holds about ``COPIES`` frames at its peak (the one being read, the frame, profiling and
validation, the Parquet copy stored); measured peaks of ``hub ingest`` were 3 to 3.5 times the
frame for numeric CSV and Parquet and for sparse JSON. Each column costs ``COLUMN_BYTES`` more
(Arrow chunks, a profile and checks per column: a 50,000-column CSV took about 12 KiB each).
"""

from __future__ import annotations

from hub_kernel.data.io.base import SourceInput, current_settings

CELL_BYTES = 8  # a float64, an int64, a pointer to an object or a string offset
COPIES = 4  # frames held at the peak of an ingest (read, built, profiled, stored)
COLUMN_BYTES = 16 * 2**10  # per column, whatever its length

# What ``json.loads`` allocates per token (measured on CPython 3.11, rounded up): a dict per
# object, a list per array, a dict slot and a value per member, a pointer per element.
JSON_OBJECT_BYTES = 184
JSON_ARRAY_BYTES = 64
JSON_MEMBER_BYTES = 40
JSON_ELEMENT_BYTES = 16


def memory_budget() -> int:
    """The bytes one ingest may take: the setting, else a quarter of the machine's memory."""
    configured = current_settings().ingest_memory_bytes
    if configured is not None:
        return configured
    import psutil

    return int(psutil.virtual_memory().total // 4)


def human_bytes(n: float) -> str:
    """``n`` bytes in binary units: ``512 B``, ``1.5 KiB``, ``4.8 GiB``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def count(n: int, noun: str) -> str:
    """``1 column``, ``20,000 columns``."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def frame_bytes(rows: int, columns: int, *, row_bytes: float | None = None) -> int:
    """Peak memory of ingesting a ``rows`` x ``columns`` table.

    ``row_bytes`` is what one row takes in the frame (default ``CELL_BYTES`` per column).
    """
    per_row = columns * CELL_BYTES if row_bytes is None else row_bytes
    return int(rows * per_row * COPIES + columns * COLUMN_BYTES)


def json_parse_bytes(data: bytes) -> int:
    """What parsing the JSON ``data`` into Python objects takes (an upper estimate)."""
    return (
        data.count(b"{") * JSON_OBJECT_BYTES
        + data.count(b"[") * JSON_ARRAY_BYTES
        + data.count(b":") * JSON_MEMBER_BYTES
        + data.count(b",") * JSON_ELEMENT_BYTES
        + len(data)
    )


def check_memory(source: SourceInput, estimate: int, what: str) -> None:
    """Refuse ``source`` when loading it (``estimate`` bytes, for ``what``) exceeds the budget."""
    budget = memory_budget()
    if estimate > budget:
        raise source.error(
            f"loading it would take about {human_bytes(estimate)} of memory ({what}), more "
            f"than the ingest memory budget of {human_bytes(budget)} (setting "
            "HUB_INGEST_MEMORY_BYTES); not loaded"
        )
