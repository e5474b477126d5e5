"""Data larger than memory: opened with dask, profiled out of core, analysed on a stated
sample, registered in the catalog by reference."""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd
import pytest

from hub_kernel.analyses import run_analyses
from hub_kernel.data import SAMPLE_ROWS, is_lazy_input, open_table, profile_table
from hub_kernel.data.catalog import Catalog
from hub_kernel.data.profile import profile_dataset
from hub_kernel.exceptions import DataError

FILES, ROWS = 4, 40_000  # 160,000 rows in all


def _part(index: int, rng: np.random.Generator) -> pd.DataFrame:
    n = ROWS
    frame = pd.DataFrame({
        "amount": rng.lognormal(3, 1, n),
        "units": rng.integers(0, 500, n).astype("int64"),
        "region": rng.choice(np.array(["north", "south", "east", "west"], dtype=object), n),
        "when": pd.date_range("2021-01-01", periods=n, freq="min") + pd.Timedelta(days=40 * index),
        "order_id": [f"o{index}-{i}" for i in range(n)],
        "returned": rng.random(n) < 0.1,
    })
    frame.loc[rng.random(n) < 0.07 * (index + 1), "amount"] = np.nan  # more gaps later on
    frame.loc[rng.random(n) < 0.2, "region"] = None
    return frame


@pytest.fixture
def events(tmp_path):
    """A folder of Parquet files (two of them in a subfolder) and the same data as one
    frame."""
    rng = np.random.default_rng(7)
    folder = tmp_path / "events"
    parts = []
    for index in range(FILES):
        part = _part(index, rng)
        sub = folder / "older" if index < 2 else folder
        sub.mkdir(parents=True, exist_ok=True)
        part.to_parquet(sub / f"part-{index}.parquet", index=False, row_group_size=15_000)
        parts.append(part)
    return folder, pd.concat(parts, ignore_index=True)


@pytest.fixture
def small_budget(limits):
    limits(memory_budget_bytes=100_000)


def _rank(values: pd.Series, x: float) -> float:
    clean = values.dropna().to_numpy()
    return float((clean <= x).mean())


def test_the_out_of_core_profile_matches_pandas(events, small_budget):
    folder, full = events
    assert is_lazy_input(folder)
    table = open_table(folder)
    assert table.n_rows == len(full) and table.format == "parquet" and len(table.files) == 4
    ooc, exact = profile_table(table), profile_dataset(full)
    assert ooc.out_of_core and not exact.out_of_core
    assert (ooc.n_rows, ooc.n_columns, ooc.sample_rows) == (160_000, 6, SAMPLE_ROWS)
    assert ooc.sampled and ooc.analysed_rows == SAMPLE_ROWS
    for mine, theirs in zip(ooc.columns, exact.columns, strict=True):
        assert (mine.name, mine.kind, mine.n_missing) == (theirs.name, theirs.kind,
                                                          theirs.n_missing)
        assert mine.missing_share == pytest.approx(theirs.missing_share, abs=1e-12)
        if mine.stats.get("n_unique_approximate"):  # k minimum values: under 1% (2.5 sd)
            assert mine.n_unique == pytest.approx(theirs.n_unique, rel=0.02)
        else:
            assert mine.n_unique == theirs.n_unique
    assert ooc.column("order_id").stats["n_unique_approximate"]  # 160,000 distinct ids
    assert not ooc.column("units").stats.get("n_unique_approximate")
    for name in ("amount", "units"):
        mine, theirs = ooc.column(name).stats, exact.column(name).stats
        for key in ("mean", "std", "min", "max", "skew"):
            assert mine[key] == pytest.approx(theirs[key], rel=1e-9, abs=1e-9), key
        assert mine["autocorr"] == pytest.approx(theirs["autocorr"], abs=0.01)
        for q in (25, 50, 75):  # approximate quartiles: within 2 points of rank
            assert abs(_rank(full[name], mine[f"p{q}"]) - q / 100) < 0.02
    when = ooc.column("when").stats
    assert {k: when[k] for k in ("min", "max")} == exact.column("when").stats
    for name in ("region", "returned"):
        assert ooc.column(name).stats == exact.column(name).stats


def test_the_sample_is_uniform_seeded_and_says_of_how_many_rows(events, small_budget):
    folder, full = events
    table = open_table(folder)
    sample = table.sample()
    assert len(sample) == SAMPLE_ROWS
    assert sample.attrs["hub_sample"] == {"rows": SAMPLE_ROWS, "of": 160_000, "seed": 0}
    assert sample["order_id"].is_unique and sample["order_id"].isin(full["order_id"]).all()
    share = sample["order_id"].str.extract(r"^o(\d)-")[0].value_counts(normalize=True)
    assert share.to_numpy() == pytest.approx([0.25] * 4, abs=0.01)  # every file, evenly
    standard_error = full["units"].std() / np.sqrt(SAMPLE_ROWS)
    assert abs(sample["units"].mean() - full["units"].mean()) < 4 * standard_error
    again = open_table(folder).sample()
    assert again["order_id"].tolist() == sample["order_id"].tolist()  # seeded
    assert list(sample.dtypes) == list(full.dtypes)  # typed as read_table types them


def test_analyses_of_a_sample_say_so_and_exact_counts_stay_exact(events, small_budget):
    folder, full = events
    table = open_table(folder)
    profile = profile_table(table)
    results = run_analyses(table.sample(), profile, names=["summary", "missingness"])
    for result in results.values():
        assert any("sample of 50,000 of 160,000 rows" in c for c in result.caveats)
        assert result.data["sample"] == {"rows": 50_000, "of": 160_000}
    assert results["summary"].value("rows") == 160_000
    missing = results["missingness"]
    exact_share = 100 * full["amount"].isna().mean()
    assert missing.value("missing.amount") == pytest.approx(exact_share, abs=1e-9)
    assert any("exact over all 160,000 rows" in c for c in missing.caveats)


def test_a_small_file_is_read_whole_and_a_large_one_lazily(tmp_path, limits):
    path = tmp_path / "one.parquet"
    pd.DataFrame({"a": np.arange(50_000)}).to_parquet(path)
    limits(memory_budget_bytes=10 * path.stat().st_size)
    assert not is_lazy_input(path)
    limits(memory_budget_bytes=path.stat().st_size - 1)
    assert is_lazy_input(path)
    assert profile_table(open_table(path)).n_rows == 50_000


def test_a_csv_glob_is_profiled_out_of_core(tmp_path, small_budget):
    rng = np.random.default_rng(3)
    parts = []
    for index in range(3):
        part = pd.DataFrame({"day": pd.date_range("2022-01-01", periods=2_000, freq="h")
                             + pd.Timedelta(days=100 * index),
                             "price": rng.normal(100, 5, 2_000),
                             "shop": rng.choice(["a", "b", None], 2_000)})
        part.to_csv(tmp_path / f"sales-{index}.csv", index=False)
        parts.append(part)
    (tmp_path / "notes.txt").write_text("not part of the glob")
    full = pd.concat(parts, ignore_index=True)
    pattern = str(tmp_path / "sales-*.csv")
    assert is_lazy_input(pattern)
    table = open_table(pattern)
    assert (table.format, len(table.files)) == ("csv", 3)
    profile = profile_table(table)
    assert profile.n_rows == 6_000 and not profile.sampled  # fewer rows than a sample
    kinds = {c.name: c.kind for c in profile.columns}
    assert kinds == {"day": "datetime", "price": "numeric", "shop": "categorical"}
    assert profile.column("shop").n_missing == int(full["shop"].isna().sum())
    assert profile.column("price").stats["mean"] == pytest.approx(full["price"].mean())
    assert profile.column("day").stats["max"] == full["day"].max().isoformat()
    with pytest.raises(DataError, match="matches no file"):
        open_table(str(tmp_path / "nothing-*.csv"))


def test_a_csv_of_semicolons_and_decimal_commas_is_read_as_read_table_reads_it(tmp_path, limits):
    path = tmp_path / "messwerte.csv"
    rows = "".join(f"{i};{i},5;Zürich\n" for i in range(3_000))
    path.write_bytes(("nr;wert;ort\n" + rows).encode("latin-1"))
    limits(memory_budget_bytes=1_000)
    table = open_table(path)
    sample = table.sample()
    assert table.columns == ["nr", "wert", "ort"] and len(sample) == 3_000
    assert sample["wert"].iloc[:2].tolist() == [0.5, 1.5] and sample["ort"].iloc[0] == "Zürich"


def test_a_corrupt_parquet_file_is_named(events, small_budget):
    folder, _full = events
    broken = folder / "part-2.parquet"
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2])  # truncated: no footer
    with pytest.raises(DataError) as caught:
        open_table(folder)
    assert str(broken) in str(caught.value) and "not a readable Parquet file" in str(
        caught.value)
    broken.write_bytes(b"PAR1" + os.urandom(4096))
    with pytest.raises(DataError, match=r"part-2\.parquet"):
        open_table(folder)


def test_a_file_damaged_inside_is_named_when_read(events, small_budget):
    folder, _full = events
    damaged = folder / "older" / "part-1.parquet"
    data = bytearray(damaged.read_bytes())
    footer = int.from_bytes(data[-8:-4], "little") + 8
    for position in range(100, len(data) - footer - 100, 97):  # the pages, not the footer
        data[position] ^= 0xFF
    damaged.write_bytes(bytes(data))
    table = open_table(folder)  # the footer still reads
    with pytest.raises(DataError) as caught:
        profile_table(table)
    assert str(damaged) in str(caught.value) and "row group" in str(caught.value)


def test_a_folder_without_parquet_files_is_refused(tmp_path, small_budget):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no Parquet files"):
        open_table(tmp_path / "empty")


def test_without_dask_the_error_says_what_to_install(events, small_budget, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.dataframe", None)  # as if the extra were missing
    with pytest.raises(DataError, match=r"pip install 'hub\[dask\]'"):
        open_table(events[0])


# -- the catalog -------------------------------------------------------------------------
def test_ingest_registers_a_large_dataset_by_reference(events, small_budget, hub_home):
    folder, full = events
    catalog = Catalog()
    result = catalog.ingest(folder)
    record = result.record
    assert result.created and record.reference is not None
    assert record.reference["path"] == str(folder.resolve()) and record.source == str(folder)
    assert (record.n_rows, record.n_columns, record.name) == (160_000, 6, "events")
    assert len(record.reference["fingerprint"]["files"]) == 4
    stored = catalog.datasets_dir / record.id
    assert {p.name for p in stored.iterdir()} == {"meta.json", "report.json", "profile.json",
                                                 "sample.parquet"}  # no copy of the data
    kept = sum(p.stat().st_size for p in hub_home.rglob("*") if p.is_file())
    data = sum(p.stat().st_size for p in folder.rglob("*.parquet"))
    assert kept < data / 2
    assert any(i.check == "sample" for i in result.report.issues)
    assert result.report.n_rows == 160_000
    frame = catalog.load(record.id)
    assert len(frame) == SAMPLE_ROWS and frame.attrs["hub_sample"]["of"] == 160_000
    profile = catalog.profile("events")
    assert profile.out_of_core and profile.column("amount").n_missing == int(
        full["amount"].isna().sum())
    assert catalog.open(record.id).n_rows == 160_000
    again = catalog.ingest(folder)  # the same files: registered once
    assert not again.created and again.record.id == record.id
    assert catalog.find_or_ingest(str(folder))[0].id == record.id


def test_a_changed_vanished_or_new_file_is_named_when_opened(events, small_budget, hub_home):
    folder, _full = events
    catalog = Catalog()
    record = catalog.ingest(folder).record
    changed = folder / "older" / "part-1.parquet"
    pd.DataFrame({"amount": [1.0]}).to_parquet(changed)
    for opening in (catalog.load, catalog.open):
        with pytest.raises(DataError, match="changed since") as caught:
            opening(record.id)
        assert str(changed) in str(caught.value)
    changed.unlink()
    with pytest.raises(DataError, match="is gone") as caught:
        catalog.load(record.id)
    assert str(changed) in str(caught.value)


def test_a_file_added_to_the_folder_is_named(events, small_budget, hub_home):
    folder, _full = events
    catalog = Catalog()
    record = catalog.ingest(folder).record
    extra = folder / "later" / "late.parquet"
    extra.parent.mkdir()
    pd.DataFrame({"amount": [1.0]}).to_parquet(extra)
    with pytest.raises(DataError, match="appeared") as caught:
        catalog.load(record.id)
    assert str(extra) in str(caught.value)
    fresh = catalog.ingest(folder)  # ingesting again registers the new state
    assert fresh.created and fresh.record.id != record.id
