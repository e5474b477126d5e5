"""The CSV source: detection of delimiter and encoding, streamed slices, bad lines, progress."""

import logging

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import pytest

from hub_kernel.data import (
    read_table,
)
from hub_kernel.exceptions import DataError


@pytest.mark.parametrize(
    ("content", "delimiter"),
    [
        (b"a,b,c\n1,2,3\n4,5,6\n", ","),
        (b"a;b;c\n1;2;3\n4;5;6\n", ";"),
        (b"a\tb\tc\n1\t2\t3\n4\t5\t6\n", "\t"),
        (b"a|b|c\n1|2|3\n4|5|6\n", "|"),
        (b'a;b;c\n"x;y",2,3;4;5\n"z";6;7\n', ";"),  # quoted delimiters do not count
    ],
)
def test_delimiters_are_detected(content, delimiter):
    frame = read_table(content, name="d.csv")
    assert frame.attrs["hub_source"]["delimiter"] == delimiter
    assert list(frame.columns) == ["a", "b", "c"] and len(frame) == 2


def test_delimiter_decimal_and_encoding_can_be_given():
    data = "a|b\n1,5|é\n".encode("latin-1")
    frame = read_table(data, name="d.csv", delimiter="|", decimal=",", encoding="latin-1")
    assert frame["a"].tolist() == [1.5] and frame["b"].tolist() == ["é"]
    assert frame.attrs["hub_source"]["encoding"] == "iso8859-1"
    assert frame.attrs["hub_source"]["warnings"] == []


@pytest.mark.parametrize("codec", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_unicode_encodings_are_detected(codec):
    frame = read_table("név,város\nÁrpád,Győr\n".encode(codec), name="u.csv")
    assert frame.to_dict("list") == {"név": ["Árpád"], "város": ["Győr"]}
    assert frame.attrs["hub_source"]["warnings"] == []


def test_text_with_control_bytes_is_refused_as_binary():
    with pytest.raises(DataError, match="not text: binary data"):
        read_table(bytes(range(1, 32)) * 100, name="x.csv")


def _mixed_csv(path, rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "id": np.arange(rows),
            "price": np.round(rng.normal(100, 20, rows), 2),
            "qty": pd.array(rng.integers(0, 50, rows), dtype="Int64"),
            "city": rng.choice(["Oslo", "Lima", "Pune", "Kyiv"], rows),
            "note": [f'item {i}, "quoted"' for i in range(rows)],
            "day": pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, rows), "D"),
        }
    )
    frame.loc[frame.index % 97 == 0, "qty"] = pd.NA
    frame.loc[frame.index % 89 == 0, "city"] = None
    frame.to_csv(path, index=False, date_format="%Y-%m-%d")
    return frame


def test_a_file_read_in_many_slices_equals_a_whole_file_read(tmp_path, limits):
    limits(csv_block_bytes=65_536)  # ~1 MB file: 17 slices
    path = tmp_path / "mixed.csv"
    _mixed_csv(path, 20_000)
    frame = read_table(path)
    expected = pd.read_csv(path, engine="pyarrow")
    assert frame.shape == expected.shape == (20_000, 6)
    for name in ("id", "price", "qty", "city", "note"):
        pd.testing.assert_series_equal(frame[name], expected[name], check_dtype=False)
    assert frame["qty"].dtype == "float64" and frame["qty"].isna().sum() == 207
    assert frame["day"].dtype == "datetime64[ms]"
    assert frame["day"].tolist() == pd.to_datetime(expected["day"]).tolist()


def test_column_types_changing_after_the_first_slice_match_whole_file_inference(tmp_path, limits):
    limits(csv_block_bytes=65_536)
    n = 30_000
    lines = ["ints_then_text,empty_then_ints,ints_then_floats,always"]
    for i in range(n):
        lines.append(f"{i},,{i},{i}")
    lines.append(f"n/a!,{n},{n}.5,{n}")
    path = tmp_path / "drift.csv"
    path.write_text("\n".join(lines) + "\n")
    frame = read_table(path)
    whole = pacsv.read_csv(path).to_pandas()
    assert frame["ints_then_text"].tolist() == whole["ints_then_text"].tolist()
    assert frame["ints_then_text"].iloc[-1] == "n/a!" and frame["ints_then_text"][7] == "7"
    assert frame["empty_then_ints"].isna().sum() == n and frame["empty_then_ints"].iloc[-1] == n
    assert (
        frame["ints_then_floats"].dtype == "float64"
        and frame["ints_then_floats"].iloc[-1] == n + 0.5
    )
    assert frame["always"].dtype == "int64"


def test_quoted_newlines_across_slice_boundaries(tmp_path, limits):
    limits(csv_block_bytes=65_536)
    rows = [(i, f'line one of {i}\nline two, with a comma\n"and quotes"') for i in range(3_000)]
    expected = pd.DataFrame(rows, columns=["id", "text"])
    path = tmp_path / "multiline.csv"
    expected.to_csv(path, index=False)
    frame = read_table(path)
    assert frame["id"].tolist() == expected["id"].tolist()
    assert frame["text"].tolist() == expected["text"].tolist()


def test_a_ragged_row_deep_in_the_file_names_its_line(tmp_path, limits):
    limits(csv_block_bytes=65_536)
    lines = ["a,b"] + [f"{i},{i}" for i in range(20_000)]
    lines[15_000] = "1,2,3"  # line 15001 of the file
    path = tmp_path / "ragged.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="line 15001 has 3 fields, expected 2") as info:
        read_table(path)
    assert info.value.source == str(path)
    frame = read_table(path, on_bad_lines="skip")
    assert len(frame) == 19_999
    assert "line(s) 15001" in frame.attrs["hub_source"]["warnings"][0]


def test_invalid_utf8_after_the_sample_falls_back_and_is_reported(tmp_path, limits):
    limits(csv_block_bytes=65_536)
    body = "".join(f"{i},plain\n" for i in range(200_000))  # > 1 MiB before the bad byte
    path = tmp_path / "late.csv"
    path.write_bytes(b"n,word\n" + body.encode() + "1,caf\xe9\n".encode("cp1252"))
    frame = read_table(path)
    assert frame["word"].iloc[-1] == "café" and len(frame) == 200_001
    info = frame.attrs["hub_source"]
    assert info["encoding"] == "cp1252" and "read as cp1252" in info["warnings"][0]


def test_progress_bar_can_be_shown_and_is_off_by_default(tmp_path, limits, capsys, caplog):
    limits(csv_block_bytes=65_536)
    path = tmp_path / "mixed.csv"
    _mixed_csv(path, 5_000)
    read_table(path)
    assert capsys.readouterr().err == ""
    read_table(path, progress=True)
    assert "mixed.csv" in capsys.readouterr().err  # tqdm writes to stderr


def test_progress_falls_back_to_log_lines_without_tqdm(tmp_path, limits, monkeypatch, caplog):
    import builtins

    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    limits(csv_block_bytes=65_536)
    path = tmp_path / "mixed.csv"
    _mixed_csv(path, 5_000)
    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    with caplog.at_level(logging.INFO, logger="hub_kernel"):
        read_table(path, progress=True)
    assert f"reading {path}: 100%" in caplog.text
