"""URL ingest against a real local HTTP server: private, loopback and link-local targets refused
on every hop (unless HUB_URL_ALLOW_PRIVATE), an overall deadline a dripping server cannot
stretch, and a size cap that stops the download and removes the temporary file."""

from __future__ import annotations

import http.server
import socket
import tempfile
import threading
import time

import pytest

from hub_kernel.data import read_table
from hub_kernel.data.catalog import Catalog
from hub_kernel.data.io import download
from hub_kernel.exceptions import DataError

CSV = b"day,temp\n2024-01-01,3.5\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.hits.append(self.path)  # type: ignore[attr-defined]
        route = self.server.routes.get(self.path)  # type: ignore[attr-defined]
        if route is None:
            self.send_error(404, "Not Found")
            return
        status, headers, body = route
        if "x-drip-headers" in headers:  # the status line, one byte at a time, never finished
            try:
                for byte in b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\n":
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
            return
        self.send_response(status)
        for key, value in headers.items():
            if not key.startswith("x-"):
                self.send_header(key, value)
        if "x-no-length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        drip = float(headers.get("x-drip", 0))
        try:
            if drip:  # one byte at a time: no single read ever waits long
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(drip)
            else:
                self.wfile.write(body)
        except OSError:  # the client gave up
            pass

    def log_message(self, *args):
        pass


def _serve(host: str):
    httpd = http.server.ThreadingHTTPServer((host, 0), _Handler)
    httpd.daemon_threads = True
    httpd.routes = {}  # type: ignore[attr-defined]
    httpd.hits = []  # type: ignore[attr-defined]
    httpd.handle_error = lambda request, address: None  # type: ignore[method-assign]
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    return httpd, f"http://{host}:{httpd.server_port}"


@pytest.fixture
def server(monkeypatch, limits):
    """A real server on 127.0.0.1, with HUB_URL_ALLOW_PRIVATE unset (the default)."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,127.0.0.2,localhost,rebind.example")
    monkeypatch.delenv("HUB_URL_ALLOW_PRIVATE", raising=False)
    limits()
    httpd, base = _serve("127.0.0.1")
    yield httpd, base
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def public_loopback(monkeypatch):
    """127.0.0.1 (the test server) plays a public host; every other address is judged as is."""
    judge = download._address_kind
    monkeypatch.setattr(
        download, "_address_kind", lambda ip: None if ip == "127.0.0.1" else judge(ip)
    )


@pytest.fixture
def temp_dir(tmp_path, monkeypatch):
    """Where downloads go for this test (to check nothing is left behind)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_a_loopback_url_is_refused_by_default_and_allowed_by_the_setting(server, limits):
    httpd, base = server
    httpd.routes["/data.csv"] = (200, {}, CSV)
    with pytest.raises(DataError) as info:
        read_table(f"{base}/data.csv")
    assert info.value.source == f"{base}/data.csv"
    assert info.value.reason == (
        "refused: the URL reaches 127.0.0.1, a loopback address; URL ingest does not download "
        "from private, loopback or link-local addresses (set HUB_URL_ALLOW_PRIVATE=1 to allow "
        "them)"
    )
    assert httpd.hits == []  # refused before connecting
    limits(url_allow_private=1)
    assert read_table(f"{base}/data.csv")["temp"].tolist() == [3.5]


@pytest.mark.parametrize(
    ("target", "shown", "kind"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", "a link-local address"),
        ("http://[::1]:9/x.csv", "::1", "a loopback address"),
        ("http://10.1.2.3/x.csv", "10.1.2.3", "a private address"),
        ("http://[::ffff:127.0.0.1]/x.csv", "::ffff:127.0.0.1", "a loopback address"),
        ("http://0.0.0.0:9/x.csv", "0.0.0.0", "not a unicast public address"),
    ],
)
def test_a_redirect_to_a_private_address_is_refused_naming_the_hop(
    server, public_loopback, target, shown, kind
):
    httpd, base = server
    httpd.routes["/start.csv"] = (302, {"Location": "/next.csv"}, b"")
    httpd.routes["/next.csv"] = (301, {"Location": target}, b"")
    with pytest.raises(DataError) as info:
        read_table(f"{base}/start.csv")
    assert info.value.source == f"{base}/start.csv"
    assert info.value.reason.startswith(
        f"refused: redirect 2 to {download.public_url(target)} reaches {shown}, {kind};"
    )
    assert "HUB_URL_ALLOW_PRIVATE" in info.value.reason
    assert httpd.hits == ["/start.csv", "/next.csv"]


def test_a_redirect_to_another_loopback_server_never_reaches_it(server, public_loopback):
    httpd, base = server
    inner, inner_base = _serve("127.0.0.2")
    try:
        inner.routes["/secret.csv"] = (200, {}, b"secret\n42\n")
        httpd.routes["/go"] = (307, {"Location": f"{inner_base}/secret.csv"}, b"")
        with pytest.raises(DataError, match=r"redirect 1 to .* reaches 127\.0\.0\.2, a loopback"):
            read_table(f"{base}/go")
        assert inner.hits == []
    finally:
        inner.shutdown()
        inner.server_close()


def test_a_name_that_resolves_elsewhere_when_connecting_is_refused(server, monkeypatch):
    # DNS rebinding: public when checked, loopback when connected to
    httpd, base = server
    httpd.routes["/data.csv"] = (200, {}, CSV)
    real = socket.getaddrinfo
    answers = iter([[(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 80))]])

    def rebinding(host, *args, **kwargs):
        if host == "rebind.example":
            first = next(answers, None)
            return first if first is not None else real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    url = base.replace("127.0.0.1", "rebind.example") + "/data.csv"
    with pytest.raises(DataError, match=r"the URL reaches rebind\.example \(127\.0\.0\.1\), a "
                                        "loopback address"):
        read_table(url)
    assert httpd.hits == []  # the connection was closed before a request was sent


def test_a_dripping_server_is_stopped_at_the_overall_deadline(server, limits, temp_dir):
    httpd, base = server
    httpd.routes["/drip.csv"] = (200, {"x-drip": "0.25"}, b"a\n" + b"1\n" * 100)
    limits(url_allow_private=1, download_deadline_seconds=1.5)
    started = time.monotonic()
    with pytest.raises(DataError) as info:
        read_table(f"{base}/drip.csv")  # each byte comes well within the 30 s read timeout
    assert time.monotonic() - started < 5
    assert info.value.reason == (
        "cannot be downloaded: not finished within the deadline of 1.5 s (setting "
        "HUB_DOWNLOAD_DEADLINE_SECONDS); download stopped"
    )
    assert list(temp_dir.iterdir()) == []


def test_a_server_dripping_its_headers_is_stopped_at_the_deadline_too(server, limits):
    httpd, base = server
    httpd.routes["/slow-headers.csv"] = (200, {"x-drip-headers": "1"}, b"")
    limits(url_allow_private=1, download_deadline_seconds=1)
    started = time.monotonic()
    with pytest.raises(DataError, match=r"not finished within the deadline of 1 s "):
        read_table(f"{base}/slow-headers.csv")
    assert time.monotonic() - started < 4


@pytest.mark.parametrize("declared", [True, False])
def test_a_body_over_the_download_cap_is_stopped_and_its_file_removed(
    server, limits, temp_dir, declared
):
    httpd, base = server
    headers = {} if declared else {"x-no-length": "1"}
    httpd.routes["/big.csv"] = (200, headers, b"a\n" + b"1\n" * 50_000)
    limits(url_allow_private=1, download_max_bytes=10_000)
    with pytest.raises(DataError) as info:
        read_table(f"{base}/big.csv")
    assert "larger than the limit of 10,000 bytes (setting HUB_DOWNLOAD_MAX_BYTES)" in (
        info.value.reason
    )
    assert list(temp_dir.iterdir()) == []
    limits(url_allow_private=1, download_max_bytes=200_000)
    assert len(read_table(f"{base}/big.csv")) == 50_000
    assert list(temp_dir.iterdir()) == []


def test_a_truncated_body_is_an_error_not_a_shorter_table(server, limits):
    httpd, base = server
    httpd.routes["/cut.csv"] = (200, {"x-no-length": "1", "Content-Length": "999"}, CSV)
    limits(url_allow_private=1)
    with pytest.raises(DataError, match=r"closed after 24 of 999 bytes"):
        read_table(f"{base}/cut.csv")


def test_a_refused_url_ingest_stores_nothing(server, tmp_path, temp_dir):
    httpd, base = server
    httpd.routes["/data.csv"] = (200, {}, CSV)
    catalog = Catalog(tmp_path / "catalog")
    kept = tmp_path / "kept.csv"
    kept.write_bytes(CSV)
    catalog.ingest(kept)
    before = sorted(p.relative_to(catalog.root) for p in catalog.root.rglob("*"))
    with pytest.raises(DataError, match=r"refused: the URL reaches 127\.0\.0\.1"):
        catalog.ingest(f"{base}/data.csv?token=s3cret")
    assert sorted(p.relative_to(catalog.root) for p in catalog.root.rglob("*")) == before
    assert list(temp_dir.iterdir()) == []


def test_hub_ingest_of_a_loopback_url_exits_1_naming_it_without_its_token(server, hub_home):
    from typer.testing import CliRunner

    from hub_kernel.cli import app

    httpd, base = server
    httpd.routes["/data.csv?token=s3cret"] = (200, {}, CSV)
    result = CliRunner().invoke(app, ["ingest", f"{base}/data.csv?token=s3cret"])
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert f"error: {base}/data.csv: refused: the URL reaches 127.0.0.1" in output
    assert "s3cret" not in output and httpd.hits == []
    assert Catalog().datasets() == []


class _AuthHandler(_Handler):
    def do_GET(self):
        self.server.auth.append(self.headers.get("Authorization"))  # type: ignore[attr-defined]
        super().do_GET()


def test_credentials_in_the_url_go_as_basic_auth_and_never_into_a_message(monkeypatch, limits):
    import base64

    monkeypatch.setenv("no_proxy", "127.0.0.1")
    limits(url_allow_private=1)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AuthHandler)
    httpd.daemon_threads = True
    httpd.routes = {"/t.csv": (200, {"Content-Type": "text/csv"}, CSV),  # type: ignore[attr-defined]
                    "/away": (302, {"Location": "/t.csv"}, b"")}
    httpd.hits, httpd.auth = [], []  # type: ignore[attr-defined]
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    base = f"http://zquser:s3cr%40t@127.0.0.1:{httpd.server_port}"
    try:
        assert read_table(f"{base}/t.csv")["temp"].tolist() == [3.5]
        assert httpd.auth == ["Basic " + base64.b64encode(b"zquser:s3cr@t").decode()]
        read_table(f"{base}/away")  # the credentials are not sent on to where it redirects
        assert httpd.auth[-1] is None
        with pytest.raises(DataError) as refused:
            read_table(f"{base}/missing.csv")
        assert "s3cr" not in str(refused.value) and "zquser" not in str(refused.value)
    finally:
        httpd.shutdown()
        httpd.server_close()
