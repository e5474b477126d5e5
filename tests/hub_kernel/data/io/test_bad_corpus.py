"""Hostile and broken inputs: each one loads correctly or raises DataError naming it and why.

Small files are committed in ``tests/data/bad/`` (regenerate with its ``make_corpus.py``); big
ones (20k columns, zip bombs, 10k-deep JSON) are built here in ``tmp_path``.
"""

from __future__ import annotations

import io
import math
import random
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from hub_kernel.data import read_table
from hub_kernel.exceptions import DataError

BAD = Path(__file__).resolve().parents[3] / "data" / "bad"
CORPUS = sorted(p for p in BAD.iterdir() if p.suffix != ".py" and p.name != "README.md")


def _records(frame: pd.DataFrame) -> dict[str, list]:
    return {str(k): v for k, v in frame.to_dict("list").items()}


# What each committed file must give: a check of the frame, or the reason in the DataError.
LOADS = {
    "header_only.csv": lambda f: (
        list(f.columns) == ["id", "name", "price"]
        and len(f) == 0
        and "only a header" in f.attrs["hub_source"]["warnings"][0]
    ),
    "utf16.csv": lambda f: (
        _records(f) == {"name": ["José", "Li"], "city": ["Zürich", "東京"]}
        and f.attrs["hub_source"]["encoding"] == "utf-16-le"
        and f.attrs["hub_source"]["bom"] is True
    ),
    "latin1.csv": lambda f: (
        _records(f)
        == {"name": ["José", "Renée"], "city": ["Zürich", "Besançon"], "amount": [1.5, 2.0]}
        and f.attrs["hub_source"]["encoding"] == "cp1252"
        and "not valid UTF-8; read as cp1252" in f.attrs["hub_source"]["warnings"][0]
    ),
    "bom.csv": lambda f: (
        _records(f) == {"id": [1, 2], "value": ["a", "b"]}
        and f.attrs["hub_source"]["encoding"] == "utf-8-sig"
    ),
    "semicolon.csv": lambda f: (
        f.attrs["hub_source"]["delimiter"] == ";"
        and f.attrs["hub_source"]["decimal"] == ","
        and f["amount"].tolist() == [1.5, 2.25]
        and f["day"].tolist() == [pd.Timestamp("2024-01-31"), pd.Timestamp("2024-02-29")]
        and f["label"].tolist() == ["a", "b"]
    ),
    "crlf_quoted_newline.csv": lambda f: (
        _records(f)
        == {
            "id": [1, 2],
            "text": ["two\r\nlines", "plain"],
        }
    ),
    "duplicate_columns.csv": lambda f: (
        list(f.columns) == ["a", "a.1", "b", "a.2", "Unnamed: 4", "b.1"]
        and f.iloc[0].tolist() == [1, 2, 3, 4, 5, 6]
        and f.attrs["hub_source"]["renamed_columns"]
        == {"a.1": "a", "a.2": "a", "Unnamed: 4": "", "b.1": "b"}
    ),
    "html_columns.csv": lambda f: (
        list(f.columns) == ["<script>alert(1)</script>", "<img src=x onerror=alert(2)>", "&amp;"]
        and f["<script>alert(1)</script>"].tolist() == [1]
    ),
    "nan_infinity.json": lambda f: (
        math.isnan(f["x"][0])
        and f["x"][1] == math.inf
        and f["y"].tolist() == [1.0, -math.inf]
        and f.attrs["hub_source"]["nonstandard_numbers"] == 3
    ),
}
FAILS = {
    "empty.csv": "file is empty",
    "blank_lines.csv": "contains no data",
    "garbage.csv": "not text: binary data",
    "ragged.csv": "line 3 has 2 fields, expected 3",
    "unterminated_quote.csv": "line 2: a quoted value is never closed",
    "scalars.json": "record 0 is a number, not an object",
    "single_quotes.json": "invalid JSON at line 1 column 3",
    "bad_line.jsonl": "line 4: invalid JSON at column 9",
    "not_parquet.parquet": "cannot be parsed as PARQUET",
    "truncated.xlsx": "not a valid xlsx file: the zip archive is truncated or damaged",
    "not_a_workbook.xlsx": "not an Excel workbook",
}


def test_every_corpus_file_has_an_expectation():
    assert {p.name for p in CORPUS} == set(LOADS) | set(FAILS)
    assert sum(p.stat().st_size for p in BAD.iterdir()) < 200_000


@pytest.mark.parametrize("name", sorted(LOADS))
def test_corpus_files_that_load(name):
    path = BAD / name
    frame = read_table(path)
    assert LOADS[name](frame), frame
    # the same from bytes, with the name given for detection
    again = read_table(path.read_bytes(), name=name)
    assert LOADS[name](again)
    assert again.attrs["hub_source"]["source"] == name


@pytest.mark.parametrize("name", sorted(FAILS))
def test_corpus_files_that_fail_name_the_file_and_the_reason(name):
    path = BAD / name
    with pytest.raises(DataError, match=FAILS[name]) as info:
        read_table(path)
    assert info.value.source == str(path)
    assert str(info.value).startswith(f"{path}: ")
    with pytest.raises(DataError, match=FAILS[name]) as info:
        read_table(path.read_bytes(), name=f"upload/{name}")
    assert info.value.source == f"upload/{name}"


def test_ragged_rows_can_be_skipped_and_are_recorded():
    frame = read_table(BAD / "ragged.csv", on_bad_lines="skip")
    assert _records(frame) == {"a": [1, 6], "b": [2, 7], "c": [3, 8]}
    (warning,) = frame.attrs["hub_source"]["warnings"]
    assert "skipped 2 line(s)" in warning and "line(s) 3, 5" in warning


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_damaged_variants_never_escape_as_raw_errors(path):
    """Truncations and byte flips of every corpus file: a frame or a DataError, nothing else."""
    content = path.read_bytes()
    rng = random.Random(path.name)
    variants = [content[: len(content) * k // 4] for k in (1, 2, 3)]
    for _ in range(4):
        flipped = bytearray(content or b"x")
        for _ in range(3):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        variants.append(bytes(flipped))
    for variant in variants:
        try:
            frame = read_table(variant, name=path.name)
        except DataError as exc:
            assert exc.source == path.name and exc.reason
        else:
            assert isinstance(frame, pd.DataFrame)


# --- big inputs, built at test time ------------------------------------------------------------


@pytest.fixture(scope="module")
def wide_csv(tmp_path_factory) -> Path:
    """20,000 columns, two rows."""
    n = 20_000
    path = tmp_path_factory.mktemp("wide") / "wide.csv"
    rows = [
        ",".join(f"c{i}" for i in range(n)),
        ",".join(str(i) for i in range(n)),
        ",".join(str(-i) for i in range(n)),
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_twenty_thousand_columns_load_under_the_default_limit(wide_csv):
    frame = read_table(wide_csv)
    assert frame.shape == (2, 20_000)
    assert frame["c19999"].tolist() == [19999, -19999]


def test_twenty_thousand_columns_are_refused_above_the_limit(wide_csv, limits):
    limits(max_columns=10_000)
    with pytest.raises(DataError, match=r"has 20000 columns, more than the limit of 10000") as info:
        read_table(wide_csv)
    assert "HUB_MAX_COLUMNS" in info.value.reason and info.value.source == str(wide_csv)


def test_a_single_hostile_header_line_is_refused_before_it_is_buffered(tmp_path, limits):
    limits(max_columns=1_000)
    path = tmp_path / "one-line.csv"
    path.write_bytes(b"x," * 2_000_000)  # 4 MB, no newline: one enormous header
    with pytest.raises(DataError, match="columns, more than the limit of 1000"):
        read_table(path)


def _workbook(path: Path) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "value"])
    sheet.append([1, "a"])
    book.save(path)
    return path


@pytest.fixture
def bomb_xlsx(tmp_path) -> Path:
    """A real workbook plus a member of 8 MiB of zeros, deflated to a few KB."""
    path = _workbook(tmp_path / "bomb.xlsx")
    with (
        zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("xl/media/padding.bin", "w") as member,
    ):
        for _ in range(8):
            member.write(bytes(1 << 20))
    assert path.stat().st_size < 100_000
    return path


def test_xlsx_expanding_beyond_the_limit_is_refused_before_opening(bomb_xlsx, limits):
    limits(max_uncompressed_bytes=1_000_000)
    with pytest.raises(DataError, match="HUB_MAX_UNCOMPRESSED_BYTES") as info:
        read_table(bomb_xlsx)
    assert "exceeds the limit of 1,000,000 bytes" in info.value.reason
    assert info.value.source == str(bomb_xlsx)


def test_the_same_xlsx_loads_under_a_limit_it_fits(bomb_xlsx, limits):
    limits(max_uncompressed_bytes=20_000_000)
    assert _records(read_table(bomb_xlsx)) == {"id": [1], "value": ["a"]}


def _forge_size(path: Path, member: str, size: int) -> None:
    """Rewrite the uncompressed size that the zip headers declare for ``member``."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    position = data.find(b"PK\x01\x02")
    while position >= 0:
        length = int.from_bytes(data[position + 28 : position + 30], "little")
        if data[position + 46 : position + 46 + length] == name:
            data[position + 24 : position + 28] = size.to_bytes(4, "little")
            local = int.from_bytes(data[position + 42 : position + 46], "little")
            data[local + 22 : local + 26] = size.to_bytes(4, "little")
        position = data.find(b"PK\x01\x02", position + 4)
    path.write_bytes(data)


def test_xlsx_declaring_gigabytes_is_refused_under_the_default_limit(tmp_path):
    path = _workbook(tmp_path / "forged.xlsx")
    _forge_size(path, "xl/worksheets/sheet1.xml", 0xF000_0000)  # 3.75 GiB declared
    with pytest.raises(DataError, match="uncompressed size of 4,026,") as info:
        read_table(path)
    assert "HUB_MAX_UNCOMPRESSED_BYTES" in info.value.reason


def test_xlsx_declaring_less_than_it_holds_fails_cleanly(tmp_path):
    path = _workbook(tmp_path / "liar.xlsx")
    _forge_size(path, "xl/worksheets/sheet1.xml", 10)
    with pytest.raises(DataError, match=r"liar\.xlsx: "):
        read_table(path)


DEEP = 10_000


def test_json_nested_ten_thousand_deep_is_refused_before_parsing():
    data = b"[" * DEEP + b"]" * DEEP
    with pytest.raises(DataError, match="HUB_MAX_JSON_DEPTH") as info:
        read_table(data, name="deep.json")
    assert info.value.source == "deep.json" and "more than the limit of 64" in info.value.reason


def test_deep_json_inside_records_and_strings(limits):
    limits(max_json_depth=8)
    nested = {"a": {"b": {"c": 1}}}
    ok = pd.io.json.ujson_dumps([nested, {"text": "[[[[[[[[[[[[ not nesting ]]]]]]]]]]]]"}])
    frame = read_table(ok.encode(), name="ok.json")
    assert "a.b.c" in frame.columns and frame["a.b.c"][0] == 1
    deep = b'[{"a": ' + b'{"b": ' * 10 + b"1" + b"}" * 10 + b"}]"
    with pytest.raises(DataError, match="at least 12 levels deep"):
        read_table(deep, name="deep.json")


def test_deep_json_under_a_raised_limit_still_cannot_crash_the_process(limits):
    limits(max_json_depth=1_000_000)
    data = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(DataError, match="nested too deeply") as info:
        read_table(data, name="deeper.json")
    assert info.value.source == "deeper.json"


def test_a_deep_json_line_is_refused_naming_the_line():
    data = b'{"a": 1}\n{"a": ' + b"[" * DEEP + b"]" * DEEP + b"}\n"
    with pytest.raises(DataError, match=r"line 2: JSON nests at least \d+ levels deep"):
        read_table(data, name="deep.jsonl")


def test_big_inputs_from_bytes_respect_the_file_size_limit(limits):
    limits(max_file_bytes=1_000)
    with pytest.raises(DataError, match="more than the limit of 1,000 bytes") as info:
        read_table(io.BytesIO(b"a,b\n" * 500).getvalue(), name="big.csv")
    assert "HUB_MAX_FILE_BYTES" in info.value.reason and info.value.source == "big.csv"
