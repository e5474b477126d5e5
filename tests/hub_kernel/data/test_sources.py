import pandas as pd
import pytest

from hub_kernel.data import load_dataset, read_table, sample_path
from hub_kernel.exceptions import DataError


def test_bundled_sample_is_real_and_typed():
    frame = load_dataset()
    assert frame.shape == (1461, 6)
    assert pd.api.types.is_datetime64_any_dtype(frame["date"])
    assert frame["date"].min() == pd.Timestamp("2012-01-01")
    assert set(frame["weather"]) == {"drizzle", "rain", "sun", "snow", "fog"}
    licence = (sample_path().parent / "README.md").read_text()
    assert "NOAA" in licence and "MIT License" in licence


def test_dataset_setting_is_used(monkeypatch, tmp_path, hub_home):
    path = tmp_path / "tiny.csv"
    path.write_text("a,b\n1,x\n2,y\n")
    monkeypatch.setenv("HUB_DATASET", str(path))
    from hub_kernel import config

    config.reload_settings()
    assert list(load_dataset().columns) == ["a", "b"]


def test_parquet_round_trip(tmp_path):
    frame = pd.DataFrame({"n": [1.5, 2.5], "when": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    frame.to_parquet(tmp_path / "t.parquet")
    assert read_table(tmp_path / "t.parquet").equals(frame)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "file not found"),
        ("empty.csv", b"", "file is empty"),
        ("latin1.csv", "caf\xe9,n\nx,1\n".encode("latin-1"), "not UTF-8 text"),
        ("garbage.csv", b"\x00\xff\xfe\x00" * 64 + b"\n\x89PNG", "not UTF-8 text"),
        ("data.xyz", b"a,b\n1,2\n", "unsupported file type '.xyz'"),
        ("bad.parquet", b"not parquet at all", "cannot be parsed as PARQUET"),
    ],
)
def test_bad_files_raise_data_error_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        read_table(path)
    assert info.value.source == str(path)
    assert str(path) in str(info.value)
