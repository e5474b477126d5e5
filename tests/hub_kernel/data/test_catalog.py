import json

import pandas as pd
import pytest

from hub_kernel.data import sample_path
from hub_kernel.data.catalog import Catalog
from hub_kernel.data.validation import infer_schema
from hub_kernel.exceptions import CatalogError, DataError


@pytest.fixture
def catalog(tmp_path):
    return Catalog(tmp_path / "catalog")


def test_ingest_stores_parquet_with_metadata(catalog):
    result = catalog.ingest(sample_path())
    record = result.record
    assert result.created
    assert (record.name, record.n_rows, record.n_columns) == ("seattle-weather.csv", 1461, 6)
    folder = catalog.datasets_dir / record.id
    assert {p.name for p in folder.iterdir()} == {"data.parquet", "meta.json", "report.json"}
    assert json.loads((folder / "meta.json").read_text())["content_hash"] == record.content_hash
    stored = catalog.load(record.id)
    assert stored.shape == (1461, 6)
    assert pd.api.types.is_datetime64_any_dtype(stored["date"])
    assert catalog.get("seattle-weather.csv") == record
    assert catalog.get(record.id[:6]) == record


def test_same_content_is_stored_once(catalog, tmp_path):
    first = catalog.ingest(sample_path())
    copy = tmp_path / "copy.csv"
    copy.write_bytes(sample_path().read_bytes())
    again = catalog.ingest(copy)
    upload = catalog.ingest(sample_path().read_bytes(), name="seattle-weather.csv")
    assert not again.created and not upload.created
    assert again.record.id == upload.record.id == first.record.id
    assert len(catalog.datasets()) == 1
    assert again.report.issues == first.report.issues
    assert again.report.name == "copy.csv"  # the report is for the name asked for


def test_bad_input_stores_nothing(catalog, tmp_path):
    catalog.ingest(sample_path())
    before = sorted(p.name for p in catalog.datasets_dir.iterdir())
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\x00\xff" * 500)
    with pytest.raises(DataError, match=r"garbage\.csv"):
        catalog.ingest(garbage)
    with pytest.raises(DataError, match="needs a file name"):
        catalog.ingest(b"a,b\n1,2\n")
    assert sorted(p.name for p in catalog.datasets_dir.iterdir()) == before


def test_declared_schema_checks_every_new_batch(catalog, tmp_path):
    first = tmp_path / "sales.csv"
    first.write_text("region,amount\nnorth,10\nsouth,12\n")
    catalog.ingest(first)
    catalog.declare_schema("sales.csv", infer_schema(catalog.load("sales.csv")))
    second = tmp_path / "batch2" / "sales.csv"
    second.parent.mkdir()
    second.write_text("region,amount\nnorth,11\neast,lots\n")
    result = catalog.ingest(second)
    assert result.created and not result.record.valid
    assert any(i.column == "amount" and "lots" in i.examples for i in result.report.errors)
    assert [r.valid for r in catalog.batches("sales.csv")] == [True, False]
    assert (catalog.datasets_dir / result.record.id / "schema.json").is_file()
    assert catalog.load("sales.csv")["amount"].tolist() == ["11", "lots"]  # nothing lost


def test_reingest_with_a_new_schema_checks_the_stored_data(catalog, tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text("region,amount\nnorth,10\nsouth,x\n")
    catalog.ingest(path)
    strict = infer_schema(pd.DataFrame({"region": ["a"], "amount": [1]}))
    again = catalog.ingest(path, schema=strict)
    assert not again.created and not again.report.ok
    assert any(i.column == "amount" for i in again.report.errors)


def test_bad_input_never_declares_a_schema(catalog, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(DataError):
        catalog.ingest(empty, schema=infer_schema(pd.DataFrame({"a": [1]})))
    assert catalog.declared_schema("empty.csv") is None


def test_url_credentials_and_query_are_not_stored():
    url = "https://user:pw@example.org:8443/d/sales.csv?token=s"
    name, label = Catalog._name_and_label(url, None)
    assert (name, label) == ("sales.csv", "https://example.org:8443/d/sales.csv")
    table_a, _ = Catalog._name_and_label("https://example.org/export?table=a", None)
    table_b, _ = Catalog._name_and_label("https://example.org/export?table=b", None)
    assert table_a.startswith("export-") and table_a != table_b


def test_unknown_dataset_and_damaged_entries(catalog):
    record = catalog.ingest(sample_path()).record
    with pytest.raises(CatalogError, match="no dataset 'nope'"):
        catalog.get("nope")
    (catalog.datasets_dir / "junk").mkdir()
    (catalog.datasets_dir / "junk" / "meta.json").write_text("{broken")
    assert [r.id for r in catalog.datasets()] == [record.id]


@pytest.fixture
def http_server(tmp_path, limits):
    """A real HTTP server on loopback serving tmp_path/www (HUB_URL_ALLOW_PRIVATE lets these
    tests reach it)."""
    limits(url_allow_private=1)
    import functools
    import http.server
    import threading

    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_url_ingest_downloads_once_dedupes_and_keeps_no_token(catalog, http_server):
    root, base = http_server
    (root / "sales.csv").write_text("region,amount\nnorth,10\nsouth,12\n")
    url = f"{base}/sales.csv?token=s3cret"
    first = catalog.ingest(url)
    again = catalog.ingest(url)
    assert first.created and not again.created
    assert first.record.name == "sales.csv"
    assert first.record.source == f"{base}/sales.csv"
    meta = (catalog.datasets_dir / first.record.id / "meta.json").read_text()
    assert "s3cret" not in meta
    with pytest.raises(DataError, match="HTTP 404") as info:
        catalog.ingest(f"{base}/missing.csv?token=s3cret")
    assert "s3cret" not in str(info.value)
    assert f"{base}/missing.csv" in str(info.value)
