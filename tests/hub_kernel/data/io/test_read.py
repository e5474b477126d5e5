"""read_table across formats: the bundled sample, format detection, limits, Excel, JSON,
Parquet, URLs and inputs."""

import http.server
import io
import socket
import threading
import time

import openpyxl
import pandas as pd
import pytest

from hub_kernel.data import (
    SourceInput,
    list_sheets,
    load_dataset,
    read_table,
    sample_path,
)
from hub_kernel.exceptions import DataError, RegistryError


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
    from hub_kernel.core import config

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
        ("garbage.csv", b"\x00\xff\xfe\x00" * 64 + b"\n\x89PNG", "not text: binary data"),
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


def test_latin1_is_read_as_cp1252_and_the_guess_is_reported(tmp_path, caplog):
    # this used to be refused ("not UTF-8 text"); issue 4 asks for a reported fallback
    path = tmp_path / "latin1.csv"
    path.write_bytes("caf\xe9,n\nx,1\n".encode("latin-1"))
    with caplog.at_level("WARNING", logger="hub_kernel"):
        frame = read_table(path)
    assert list(frame.columns) == ["café", "n"] and frame["n"].tolist() == [1]
    info = frame.attrs["hub_source"]
    assert info["encoding"] == "cp1252"
    assert "not valid UTF-8; read as cp1252" in info["warnings"][0]
    assert "read as cp1252" in caplog.text and str(path) in caplog.text


# --- helpers --------------------------------------------------------------------------------------


def _workbook_bytes(active: int = 0) -> bytes:
    book = openpyxl.Workbook()
    first = book.active
    first.title = "people"
    first.append(["name", "born", None, "name"])
    first.append(["Ada", pd.Timestamp("1815-12-10").to_pydatetime(), 1, "x"])
    first.append([None, None, None, None])  # a blank row is skipped
    first.append(["Alan", pd.Timestamp("1912-06-23").to_pydatetime(), 2, "y"])
    other = book.create_sheet("numbers")
    other.append(["n"])
    for i in range(3):
        other.append([i * 1.5])
    book.active = active
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_format_detection_from_bytes_without_a_known_extension():
    frame = pd.DataFrame({"x": [1, 2], "s": ["a", "b"]})
    parquet = io.BytesIO()
    frame.to_parquet(parquet)
    cases = {
        "parquet": parquet.getvalue(),
        "excel": _workbook_bytes(),
        "json": b' \n[{"x": 1}]',
        "jsonl": b'{"x": 1}\n{"x": 2}\n',
        "csv": b"x;y\n1;2\n",
    }
    for expected, data in cases.items():
        for name in (None, "upload.bin", "no-extension"):
            got = read_table(data, name=name)
            assert got.attrs["hub_source"]["format"] == expected, (expected, name)
            assert got.attrs["hub_source"]["source"] == (name or "<bytes>")
    with pytest.raises(DataError, match=r"<bytes>: unsupported file type .* not recognised"):
        read_table(b"\x00\x01\x02binary")
    assert read_table(b"a,b\n1,2\n", format="csv").shape == (1, 2)
    with pytest.raises(RegistryError):
        read_table(b"a,b\n1,2\n", format="nope")


def test_a_path_without_extension_is_sniffed_but_an_unknown_extension_refused(tmp_path):
    (tmp_path / "data").write_bytes(b'[{"a": 1}]')
    assert read_table(tmp_path / "data")["a"].tolist() == [1]
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(DataError, match=r"legacy Excel \.xls is not supported; save it as \.xlsx"):
        read_table(tmp_path / "old.xls")


def test_caller_mistakes_are_not_data_errors(tmp_path):
    with pytest.raises(TypeError, match="unknown CSV option"):
        read_table(b"a\n1\n", name="a.csv", delimeter=";")
    with pytest.raises(ValueError, match="on_bad_lines"):
        read_table(b"a\n1\n", name="a.csv", on_bad_lines="warn")
    with pytest.raises(TypeError, match="expected a path, bytes"):
        read_table(42)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="sheet='x' applies to Excel workbooks, not csv"):
        read_table(b"a\n1\n", name="a.csv", sheet="x")
    with pytest.raises(DataError, match="unsupported URL scheme"):
        read_table("ftp://example.org/data.csv")
    with pytest.raises(DataError, match="is a folder"):
        read_table(tmp_path)


def test_file_size_limit_applies_to_paths(tmp_path, limits):
    path = tmp_path / "big.csv"
    path.write_bytes(b"a\n" + b"1\n" * 1000)
    limits(max_file_bytes=100)
    with pytest.raises(DataError, match="HUB_MAX_FILE_BYTES") as info:
        read_table(path)
    assert info.value.source == str(path)


# --- Excel ----------------------------------------------------------------------------------------


def test_excel_reads_the_first_sheet_by_default_not_the_active_one(tmp_path):
    path = tmp_path / "book.xlsx"
    path.write_bytes(_workbook_bytes(active=1))
    frame = read_table(path)
    assert list(frame.columns) == ["name", "born", "Unnamed: 2", "name.1"]
    assert frame["name"].tolist() == ["Ada", "Alan"]
    assert frame["born"].tolist() == [pd.Timestamp("1815-12-10"), pd.Timestamp("1912-06-23")]
    assert frame["Unnamed: 2"].tolist() == [1, 2]
    info = frame.attrs["hub_source"]
    assert info["sheet"] == "people" and info["format"] == "excel"
    assert info["renamed_columns"] == {"Unnamed: 2": "", "name.1": "name"}


def test_excel_sheets_by_name_or_index_and_listed(tmp_path):
    data = _workbook_bytes()
    assert list_sheets(data) == ["people", "numbers"]
    path = tmp_path / "book.xlsm"
    path.write_bytes(data)
    assert list_sheets(path) == ["people", "numbers"]
    assert read_table(path, sheet="numbers")["n"].tolist() == [0.0, 1.5, 3.0]
    assert read_table(data, name="b.xlsx", sheet=1).attrs["hub_source"]["sheet"] == "numbers"
    with pytest.raises(DataError, match="has no sheet named 'nope'; sheets: 'people', 'numbers'"):
        read_table(path, sheet="nope")
    with pytest.raises(DataError, match="has no sheet 5"):
        read_table(path, sheet=5)
    with pytest.raises(DataError, match="not a valid xlsx"):
        list_sheets(b"PK\x03\x04broken", name="b.xlsx")


def test_empty_excel_sheet_is_a_data_error(tmp_path):
    book = openpyxl.Workbook()
    path = tmp_path / "empty.xlsx"
    book.save(path)
    with pytest.raises(DataError, match="sheet 'Sheet' is empty"):
        read_table(path)


# --- JSON -----------------------------------------------------------------------------------------


def test_json_records_are_flattened_with_dotted_names():
    data = b"""{"meta": {"v": 1}, "rows": [
        {"id": 1, "who": {"name": "Ada", "address": {"city": "London"}}, "tags": ["a", "b"]},
        {"id": 2, "who": {"name": "Alan"}, "when": "2024-03-01"}
    ]}"""
    frame = read_table(data, name="r.json")
    assert set(frame.columns) == {"id", "who.name", "who.address.city", "tags", "when"}
    assert frame["who.address.city"].tolist()[0] == "London"
    assert frame["tags"][0] == ["a", "b"]
    assert frame.attrs["hub_source"]["record_path"] == "rows"
    assert pd.api.types.is_datetime64_any_dtype(frame["when"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"a": [1], "b": [2]}', "holds arrays 'a', 'b'"),
        (b'{"a": 1}', "this object holds no array"),
        (b"[]", "holds no records"),
        (b'"text"', "expected an array of records, found a string"),
        (b'[{"a": 1}, [2]]', "record 1 is an array"),
        (b'[{"a": 1},\n {"a": }]', "invalid JSON at line 2 column 8"),
        (b'[{"a": "caf\xe9"}]', "not UTF-8/16/32 text"),
    ],
)
def test_json_that_is_not_records_is_refused(content, message):
    with pytest.raises(DataError, match=message) as info:
        read_table(content, name="x.json")
    assert info.value.source == "x.json"


def test_json_lines_name_the_bad_line():
    good = b'{"a": 1, "b": {"c": NaN}}\n\n{"a": 2, "b": {"c": 3}}\n'
    frame = read_table(good, name="x.ndjson")
    assert frame["a"].tolist() == [1, 2] and frame.columns.tolist() == ["a", "b.c"]
    assert frame.attrs["hub_source"]["nonstandard_numbers"] == 1
    with pytest.raises(DataError, match=r"line 3: expected a JSON object .*, found an array"):
        read_table(b'{"a": 1}\n{"a": 2}\n[3]\n', name="x.jsonl")
    with pytest.raises(DataError, match="only blank lines"):
        read_table(b"\n \n", name="x.jsonl")


# --- Parquet --------------------------------------------------------------------------------------


def test_parquet_columns_and_row_group_progress(tmp_path, capsys):
    frame = pd.DataFrame({"a": range(1000), "b": [str(i) for i in range(1000)]})
    path = tmp_path / "t.parquet"
    frame.to_parquet(path, row_group_size=100)
    got = read_table(path, columns=["b"], progress=True)
    assert got.columns.tolist() == ["b"] and len(got) == 1000
    assert "t.parquet" in capsys.readouterr().err


# --- URLs -----------------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        route = self.server.routes.get(self.path)  # type: ignore[attr-defined]
        if route is None:
            self.send_error(404, "Not Found")
            return
        status, headers, body = route
        if headers.pop("x-sleep", None):
            time.sleep(2)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if "Content-Length" not in headers and not headers.get("x-no-length"):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch, limits):
    """A real HTTP server on loopback (allowed by HUB_URL_ALLOW_PRIVATE for these tests)."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    limits(url_allow_private=1)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.routes = {}  # type: ignore[attr-defined]
    httpd.handle_error = lambda request, address: None  # a client that gave up: not news
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_port}"
    yield httpd, base
    httpd.shutdown()
    httpd.server_close()


def test_tables_are_read_from_urls(server):
    httpd, base = server
    httpd.routes["/data/weather.csv"] = (200, {}, b"day,temp\n2024-01-01,3.5\n")
    httpd.routes["/api/rows?page=1"] = (
        200,
        {"Content-Type": "application/json; charset=utf-8"},
        b'[{"a": 1}]',
    )
    httpd.routes["/download"] = (
        200,
        {"Content-Type": "application/octet-stream"},
        _workbook_bytes(),
    )
    httpd.routes["/moved"] = (302, {"Location": "/data/weather.csv"}, b"")
    frame = read_table(f"{base}/data/weather.csv")
    assert frame["temp"].tolist() == [3.5]
    assert frame.attrs["hub_source"]["source"] == f"{base}/data/weather.csv"
    assert read_table(f"{base}/api/rows?page=1")["a"].tolist() == [1]
    assert read_table(f"{base}/download").attrs["hub_source"]["sheet"] == "people"
    assert list_sheets(f"{base}/download") == ["people", "numbers"]
    assert read_table(f"{base}/moved")["temp"].tolist() == [3.5]


def test_url_failures_are_data_errors_naming_the_url(server, limits):
    httpd, base = server
    with pytest.raises(DataError, match="cannot be downloaded: HTTP 404") as info:
        read_table(f"{base}/missing.csv")
    assert info.value.source == f"{base}/missing.csv"

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DataError, match="cannot be downloaded") as info:
        read_table(f"http://127.0.0.1:{port}/x.csv")
    assert info.value.source == f"http://127.0.0.1:{port}/x.csv"

    httpd.routes["/to-file"] = (302, {"Location": "file:///etc/passwd"}, b"")
    with pytest.raises(DataError, match="cannot be downloaded"):
        read_table(f"{base}/to-file")

    httpd.routes["/slow.csv"] = (200, {"x-sleep": "1"}, b"a\n1\n")
    with pytest.raises(DataError, match="timed out"):
        read_table(f"{base}/slow.csv", timeout=0.3)


@pytest.mark.parametrize("declared", [True, False])
def test_url_downloads_stop_at_the_size_limit(server, limits, declared):
    httpd, base = server
    headers = {} if declared else {"x-no-length": "1"}
    httpd.routes["/big.csv"] = (200, headers, b"a\n" + b"1\n" * 5_000)
    limits(max_file_bytes=1_000)
    with pytest.raises(DataError, match="larger than the limit of 1,000 bytes") as info:
        read_table(f"{base}/big.csv")
    assert "HUB_MAX_FILE_BYTES" in info.value.reason
    assert info.value.source == f"{base}/big.csv"


def test_source_input_reads_paths_and_bytes(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"abc")
    for source in (
        SourceInput(label=str(path), name="x.csv", path=path),
        SourceInput(label="x.csv", name="x.csv", data=b"abc"),
    ):
        assert source.size == 3 and source.head(2) == b"ab" and source.read_bytes() == b"abc"
        assert source.suffix == ".csv" and source.arrow_file().read() == b"abc"
