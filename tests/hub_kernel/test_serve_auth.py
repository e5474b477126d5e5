"""Who may view a served dashboard, tried against real Voilà servers (``hub serve``).

Each test starts ``hub serve`` on a small notebook that prints the viewer the kernel was given,
and attacks it over plain HTTP: no credential, a token on the dashboard's URL, a used login
link, a forged ``?user=`` and viewer headers, a revoked user, a request that bypassed the proxy.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import nbformat
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PROBE = ("from widgets.viewer import current_viewer\n"
         "viewer = current_viewer()\n"
         "print(f'viewer={viewer.name} operator={viewer.operator}')")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def probe_notebook(folder: Path) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(PROBE)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    path = folder / "probe.ipynb"
    nbformat.write(notebook, path)
    return path


def environment(home: Path, **extra: str) -> dict[str, str]:
    paths = [str(REPO), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "HUB_HOME": str(home), "COLUMNS": "200",
           "PYTHONPATH": os.pathsep.join(p for p in paths if p), **extra}
    env.pop("HUB_SERVE_TOKEN", None)
    return env


def hub(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub_kernel.cli", *args], env=environment(home),
                          capture_output=True, text=True, timeout=120, check=False)


class Served:
    """``hub serve`` of the probe notebook; ``get``/``post`` speak HTTP to it, keeping no
    cookie of their own (each call says which to send)."""

    def __init__(self, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.home = tmp_path / "home"
        self.port = free_port()
        self.log = tmp_path / f"serve-{self.port}.log"
        self._log = self.log.open("w")
        cmd = [sys.executable, "-m", "hub_kernel.cli", "serve", str(probe_notebook(tmp_path)),
               "--port", str(self.port), *args]
        self.process = subprocess.Popen(cmd, env=environment(self.home, **(env or {})),
                                        stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, self.log.read_text()
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            assert time.monotonic() < deadline, "the server did not listen within 60 s"
            time.sleep(0.2)
        link = re.search(r"Login link: (\S+)", self.log.read_text())
        self.login_link = link.group(1) if link else None

    def request(self, method: str, url: str, *, cookie: str | None = None,
                headers: dict[str, str] | None = None, body: str | None = None
                ) -> tuple[int, http.client.HTTPMessage, str]:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        sent = dict(headers or {})
        if cookie:
            sent["Cookie"] = cookie
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            connection.request(method, target or "/", body=body, headers=sent)
            response = connection.getresponse()
            return response.status, response.headers, response.read().decode()
        finally:
            connection.close()

    def get(self, path: str = "/", **kwargs):
        return self.request("GET", path, **kwargs)

    def kernel_environments(self) -> list[dict[str, str]]:
        import psutil

        found = []
        for child in psutil.Process(self.process.pid).children(recursive=True):
            try:
                if "ipykernel" in " ".join(child.cmdline()):
                    found.append(child.environ())
            except psutil.Error:
                continue
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()


def login_cookie(headers: http.client.HTTPMessage) -> tuple[str, str]:
    """The ``name=value`` of the login cookie a response sets, and its raw header."""
    for raw in headers.get_all("Set-Cookie") or []:
        if raw.startswith("hub-login-"):
            cookie = SimpleCookie(raw)
            (name, morsel), = cookie.items()
            return f"{name}={morsel.value}", raw
    raise AssertionError(f"no login cookie in {headers.get_all('Set-Cookie')}")


@pytest.fixture
def serve(tmp_path):
    servers: list[Served] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Served:
        servers.append(Served(tmp_path, *args, env=env))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def test_users_log_in_once_then_by_cookie_and_the_kernel_gets_only_who_they_are(tmp_path,
                                                                                 serve):
    home = tmp_path / "home"
    added = hub(home, "users", "add", "bob")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip().splitlines()[-1]
    server = serve("--auth", "users", "--no-preheat")

    status, _, body = server.get("/")
    assert status == 401 and "Log in to see this dashboard" in body
    assert "hub users add NAME" in body
    assert server.get(f"/?token={token}")[0] == 401  # never accepted on the dashboard's URL

    status, headers, _ = server.get(f"/hub/login?token={token}")
    assert status == 303 and headers["Location"] == "/"  # the token leaves the address
    cookie, raw = login_cookie(headers)
    assert "HttpOnly" in raw and "SameSite=Strict" in raw and token not in raw

    # a forged ?user=, ?token= and viewer headers: the kernel hears only who logged in
    status, _, body = server.get("/?user=alice&token=forged-token-123",
                                 cookie=cookie, headers={"X-Hub-Viewer": "alice",
                                                         "X-Hub-Role": "operator"})
    assert status == 200, body
    assert "viewer=bob operator=False" in body and "viewer=alice" not in body
    (kernel,) = server.kernel_environments()
    assert kernel["HTTP_X_HUB_VIEWER"] == "bob" and kernel["HTTP_X_HUB_ROLE"] == "viewer"
    assert "alice" not in kernel["QUERY_STRING"] and "token" not in kernel["QUERY_STRING"]
    assert not any(token in value or "forged-token" in value for value in kernel.values())
    assert "alice" not in kernel.get("VOILA_REQUEST_URL", "")

    assert hub(home, "users", "revoke", "bob").returncode == 0
    status, _, body = server.get("/", cookie=cookie)  # refused on the very next request
    assert status == 401
    status, _, body = server.get(f"/hub/login?token={token}")
    assert status == 403 and "This login is not valid" in body
    server.stop()
    log = server.log.read_text()
    assert token not in log and "forged-token" not in log  # the access log scrubs tokens
    assert "refused a login" in log


def test_the_login_form_takes_a_token_by_post(tmp_path, serve):
    home = tmp_path / "home"
    token = hub(home, "users", "add", "eve", "--operator").stdout.strip().splitlines()[-1]
    server = serve("--auth", "users", "--no-preheat")
    status, headers, body = server.get("/hub/login")
    assert status == 200 and 'type="password" name="token"' in body
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', body).group(1)
    xsrf_cookie = SimpleCookie(headers["Set-Cookie"])["_xsrf"].value
    status, headers, _ = server.request(
        "POST", "/hub/login", cookie=f"_xsrf={xsrf_cookie}",
        body=urlencode({"token": token, "_xsrf": xsrf}))
    assert status == 303 and headers["Location"] == "/"
    cookie, _ = login_cookie(headers)
    status, _, body = server.get("/", cookie=cookie)
    assert status == 200 and "viewer=eve operator=True" in body


def test_the_default_login_link_works_once_and_preheated_kernels_get_the_viewer(serve):
    server = serve("--preheat", env={"HUB_USER": "carol"})
    assert server.login_link and "/hub/login?token=" in server.login_link
    token = server.login_link.split("token=", 1)[1]
    assert server.get("/")[0] == 401
    status, headers, _ = server.get(server.login_link)
    assert status == 303 and headers["Location"] == "/"
    cookie, _ = login_cookie(headers)
    status, _, body = server.get(server.login_link)  # a login link works once
    assert status == 403 and "used already" in body
    status, _, body = server.get("/?user=alice", cookie=cookie)
    assert status == 200, body
    assert "viewer=carol operator=False" in body
    kernels = server.kernel_environments()
    assert kernels and not any(token in value for env in kernels for value in env.values())
    assert all("HUB_SERVE_TOKEN" not in env for env in kernels)
    assert not list((server.home / "run").glob("voila-*/voila.json"))  # run file deleted
    server.stop()
    log = server.log.read_text()
    assert log.count(token) == 1  # printed once by `hub serve`, never by the server


def test_header_mode_trusts_the_proxys_header_and_refuses_requests_without_it(tmp_path, serve):
    assert hub(tmp_path / "home", "users", "add", "dana", "--operator").returncode == 0
    server = serve("--auth", "header", "--auth-header", "X-Remote-User", "--no-preheat")
    status, _, body = server.get("/")
    assert status == 401 and "X-Remote-User" in body
    assert server.get("/", headers={"X-Remote-User": "da na"})[0] == 401
    assert server.get("/", headers={"X-Forwarded-User": "dana"})[0] == 401  # not that one
    status, _, body = server.get("/?user=alice", headers={"X-Remote-User": "dana"})
    assert status == 200 and "viewer=dana operator=True" in body


def test_auth_none_is_served_on_loopback_only(tmp_path, serve):
    server = serve("--auth", "none", "--no-preheat", env={"HUB_USER": "carol"})
    status, _, body = server.get("/?user=alice")
    assert status == 200 and "viewer=carol operator=False" in body
    # the server itself refuses it off loopback, whoever starts it
    refused = subprocess.run(
        [sys.executable, "-m", "hub_kernel.voila_app", str(probe_notebook(tmp_path)),
         "--no-browser", "--Voila.ip=0.0.0.0", f"--port={free_port()}", "--HubVoila.auth=none"],
        env=environment(tmp_path / "home"), capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert "--auth none serves without any login and is allowed on a loopback address only" \
        in refused.stderr + refused.stdout
