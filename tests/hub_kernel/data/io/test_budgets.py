"""Memory bombs that fit in an upload, each ingested by ``hub ingest`` in a child process whose
peak RSS is measured: refused before the frame is built, with a message naming the file, the
estimate and the budget, and nothing stored in the catalog."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from hub_kernel.data import read_table
from hub_kernel.data.catalog import Catalog
from hub_kernel.data.io import budget
from hub_kernel.exceptions import DataError

REPO = Path(__file__).resolve().parents[4]
BUDGET = 256 * 2**20  # HUB_INGEST_MEMORY_BYTES of the children: the same on every machine
PEAK_LIMIT = 600 * 2**20  # what a refused ingest may reach (the interpreter alone: ~140 MB)
KILL_AT = 1536 * 2**20  # the watchdog stops a child that goes past this (a regression)


@dataclass
class Child:
    returncode: int
    output: str
    peak_rss: int  # bytes: the child's own high-water mark (VmHWM), taken as it exits
    killed_at: int | None


# `hub ingest` as the console script runs it, reporting its peak RSS when it exits. The peak is
# the child's own: wait4's ru_maxrss would include the parent's, which a vfork'ed child
# inherits at exec.
_CHILD = """
import atexit, resource, runpy, sys
report = sys.argv.pop(1)
def peak():
    try:
        with open("/proc/self/status") as status:
            line = next(l for l in status if l.startswith("VmHWM:"))
        kib = int(line.split()[1])
    except OSError:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open(report, "w") as out:
        out.write(str(kib * 1024))
atexit.register(peak)
sys.argv[0] = "hub"
runpy.run_module("hub_kernel.cli", run_name="__main__", alter_sys=True)
"""


def _ingest_in_child(path: Path, home: Path, timeout: float = 240) -> Child:
    """``hub ingest PATH`` in a child, its peak RSS measured (killed past ``KILL_AT``)."""
    import psutil

    env = {
        **os.environ,
        "HUB_HOME": str(home),
        "HUB_INGEST_MEMORY_BYTES": str(BUDGET),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "COLUMNS": "400",
    }
    log = home.parent / f"{path.name}.log"
    report = home.parent / f"{path.name}.peak"
    with open(log, "w+b") as out:
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(report), "ingest", str(path)],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=home.parent,
        )
        killed: list[int] = []
        started = time.monotonic()

        def watch() -> None:
            process = psutil.Process(child.pid)
            while True:
                try:
                    rss = process.memory_info().rss
                except psutil.Error:
                    return
                if rss > KILL_AT or time.monotonic() - started > timeout:
                    killed.append(rss)
                    child.kill()
                    return
                time.sleep(0.02)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        child.wait()
        watcher.join(5)
        out.seek(0)
        output = " ".join(out.read().decode(errors="replace").split())
    peak = int(report.read_text()) if report.exists() else -1
    return Child(child.returncode, output, peak, killed[0] if killed else None)


def _catalog_files(home: Path) -> dict[str, int]:
    root = home / "catalog"
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def home(tmp_path):
    """A HUB_HOME holding one dataset already, which a refused ingest must leave as it was."""
    home = tmp_path / "home"
    kept = tmp_path / "kept.csv"
    kept.write_text("a,b\n1,2\n3,4\n")
    Catalog(home / "catalog").ingest(kept)
    return home


def _assert_refused(child: Child, path: Path, home: Path, before: dict[str, int], *words: str):
    assert child.killed_at is None, f"killed at {child.killed_at / 2**20:.0f} MB: {child.output}"
    assert child.returncode == 1, child.output
    assert f"error: {path}: loading it would take about" in child.output
    assert "more than the ingest memory budget of 256.0 MiB" in child.output
    assert "(setting HUB_INGEST_MEMORY_BYTES); not loaded" in child.output
    for word in words:
        assert word in child.output, child.output
    assert 0 < child.peak_rss < PEAK_LIMIT, f"peak RSS {child.peak_rss / 2**20:.0f} MB"
    assert _catalog_files(home) == before
    assert [r.name for r in Catalog(home / "catalog").datasets()] == ["kept.csv"]


def test_json_records_each_with_their_own_key(tmp_path, home):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps([{f"k{i}": i} for i in range(20_000)]))
    assert path.stat().st_size < 400_000
    before = _catalog_files(home)
    child = _ingest_in_child(path, home)
    _assert_refused(child, path, home, before, "20,000 records × 20,000 distinct keys")


def test_json_lines_records_each_with_their_own_key(tmp_path, home):
    path = tmp_path / "keys.jsonl"
    path.write_text("".join(json.dumps({f"k{i}": i}) + "\n" for i in range(20_000)))
    before = _catalog_files(home)
    child = _ingest_in_child(path, home)
    # refused as the lines come, long before the 20,000th
    _assert_refused(child, path, home, before, "records ×", "distinct keys", "by line ")


def test_parquet_of_200_million_rows_of_one_constant(tmp_path, home):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "constant.parquet"
    chunk = pa.table({"x": pa.repeat(pa.scalar(7, pa.int64()), 10_000_000)})
    with pq.ParquetWriter(path, chunk.schema, compression="zstd") as writer:
        for _ in range(20):
            writer.write_table(chunk, row_group_size=10_000_000)
    del chunk
    assert pq.ParquetFile(path).metadata.num_rows == 200_000_000
    assert path.stat().st_size < 2_000_000
    before = _catalog_files(home)
    child = _ingest_in_child(path, home)
    _assert_refused(child, path, home, before, "200,000,000 rows × 1 column in its metadata")


_SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?><worksheet '
    'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<dimension ref="{ref}"/><sheetData>'
)
_PARTS = {
    "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.'
    'openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="'
    'application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
    'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="'
    'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override '
    'PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.worksheet+xml"/></Types>',
    "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
    'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
    'schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.'
    'openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/'
    'officeDocument/2006/relationships"><sheets><sheet name="bomb" sheetId="1" r:id="rId1"/>'
    "</sheets></workbook>",
    "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships '
    'xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship '
    'Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
}


_STRINGS_TYPE = (
    '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sharedStrings+xml"/></Types>'
)
_STRINGS_REL = (
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>'
)


def _workbook(path: Path, ref: str, rows: list[tuple[bytes, int]], strings: int = 0) -> None:
    """An xlsx whose one sheet declares ``ref`` and holds each (row XML, repeat) in turn, and
    ``strings`` shared strings, written streaming: hundreds of MB of XML in a small file."""
    parts = dict(_PARTS)
    if strings:
        parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
            "</Types>", _STRINGS_TYPE
        )
        parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
            "</Relationships>", _STRINGS_REL
        )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
        if strings:
            with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as table:
                table.write(b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.'
                            b'openxmlformats.org/spreadsheetml/2006/main">')
                for _ in range(strings):
                    table.write(b"<si><t>a</t></si>")
                table.write(b"</sst>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(_SHEET_HEAD.format(ref=ref).encode())
            for row, repeat in rows:
                for _ in range(repeat):
                    sheet.write(row)
            sheet.write(b"</sheetData></worksheet>")


def test_xlsx_whose_dimensions_are_large(tmp_path, home):
    path = tmp_path / "dense.xlsx"
    cell = b"<c><v>1</v></c>"
    _workbook(path, "A1:GR100000", [(b"<row>" + cell * 200 + b"</row>", 100_000)])
    assert path.stat().st_size < 2_000_000  # 20 million cells, 300 MB of XML
    before = _catalog_files(home)
    child = _ingest_in_child(path, home)
    _assert_refused(child, path, home, before, "sheet 'bomb' declares 100,000 rows × 200 columns")


def test_xlsx_that_understates_its_dimensions_and_pads_every_row(tmp_path, home):
    # one row 4,096 cells wide, then 200,000 rows of one cell, each padded to that width
    path = tmp_path / "padded.xlsx"
    wide = b"<row>" + b"<c><v>1</v></c>" * 4_096 + b"</row>"
    _workbook(path, "A1", [(wide, 1), (b"<row><c><v>1</v></c></row>", 200_000)])
    before = _catalog_files(home)
    child = _ingest_in_child(path, home)
    _assert_refused(child, path, home, before, "sheet 'bomb' has at least 1,", "× 4,096 columns")


def test_xlsx_whose_shared_strings_table_is_huge(tmp_path, home):
    # openpyxl loads the whole table before the first row: five million strings, 85 MB of XML
    path = tmp_path / "strings.xlsx"
    _workbook(path, "A1:A1", [(b'<row><c t="s"><v>0</v></c></row>', 2)], strings=5_000_000)
    assert path.stat().st_size < 500_000
    before = _catalog_files(home)
    child = _ingest_in_child(path, home)
    _assert_refused(child, path, home, before, "its shared strings table of 85,000,115 bytes")


def test_csv_with_a_huge_column_count(tmp_path, home):
    path = tmp_path / "wide.csv"
    columns = 50_000  # HUB_MAX_COLUMNS allows it
    with open(path, "w") as out:
        out.write(",".join(f"c{i}" for i in range(columns)) + "\n")
        out.write(("," * (columns - 1) + "\n") * 400)
    before = _catalog_files(home)
    child = _ingest_in_child(path, home)
    _assert_refused(child, path, home, before, "50,000 columns × about")


# --- in process: the estimates and the default -----------------------------------------------


def test_the_default_budget_is_a_quarter_of_the_machine(monkeypatch, limits):
    import psutil

    class Memory:
        total = 16 * 2**30

    monkeypatch.delenv("HUB_INGEST_MEMORY_BYTES", raising=False)
    limits()
    monkeypatch.setattr(psutil, "virtual_memory", lambda: Memory())
    assert budget.memory_budget() == 4 * 2**30
    limits(ingest_memory_bytes=12345)
    assert budget.memory_budget() == 12345
    assert budget.human_bytes(4.8 * 2**30) == "4.8 GiB" and budget.human_bytes(512) == "512 B"


def test_a_csv_whose_first_lines_are_long_is_refused_as_its_rows_come(tmp_path, limits):
    # the sampled head promises few rows; the rest of the file is short lines
    path = tmp_path / "long-head.csv"
    with open(path, "w") as out:
        out.write("a,b\n")
        out.write(f"{'x' * 200_000},1\n" * 6)
        out.write("1,2\n" * 3_000_000)
    limits(ingest_memory_bytes=64 * 2**20, csv_block_bytes=2**20)
    with pytest.raises(DataError, match="projected from the") as info:
        read_table(path)
    assert info.value.source == str(path) and "HUB_INGEST_MEMORY_BYTES" in info.value.reason


def test_json_text_that_parses_into_many_objects_is_refused_before_parsing(tmp_path, limits):
    path = tmp_path / "empties.json"
    path.write_bytes(b"[" + b",".join([b"{}"] * 1_000_000) + b"]")  # 3 MB, ~70 MB parsed
    limits(ingest_memory_bytes=32 * 2**20)
    with pytest.raises(DataError, match="the Python objects parsing 3,000,001 bytes of JSON"):
        read_table(path)


def test_ordinary_files_fit_a_modest_budget(tmp_path, limits):
    limits(ingest_memory_bytes=64 * 2**20)
    frame = pd.DataFrame({"n": range(50_000), "s": ["text"] * 50_000, "x": 0.5})
    frame.to_csv(tmp_path / "f.csv", index=False)
    frame.to_parquet(tmp_path / "f.parquet")
    frame.to_json(tmp_path / "f.json", orient="records")
    frame.to_json(tmp_path / "f.jsonl", orient="records", lines=True)
    frame.head(2_000).to_excel(tmp_path / "f.xlsx", index=False)
    for name in ("f.csv", "f.parquet", "f.json", "f.jsonl", "f.xlsx"):
        assert read_table(tmp_path / name).shape[1] == 3, name
