"""A token-protected server really refuses viewers without the token (real Voila process)."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.slow


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_server_with_token_refuses_requests_without_it(repo, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = "t" * 12 + "-secret-0123456789"
    env = {**os.environ, "HUB_HOME": str(tmp_path / "home"), "HUB_SERVE_TOKEN": token}
    cmd = [sys.executable, "-m", "hub_kernel.cli", "serve", str(repo / "notebooks/dashboard.ipynb"),
           "--port", str(port), "--no-preheat"]
    log = (tmp_path / "voila.log").open("w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not listening(port):
            assert server.poll() is None, (tmp_path / "voila.log").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        with open(f"/proc/{server.pid}/cmdline", "rb") as handle:
            cmdline = handle.read().decode()
        assert token not in cmdline
        url = f"http://127.0.0.1:{port}/"
        with pytest.raises(urllib.error.HTTPError) as refused:  # no login, no dashboard
            urllib.request.urlopen(url, timeout=60)
        assert refused.value.code == 401
        assert b"hub dashboard" not in refused.value.read()
        # the printed one-time link sets the login cookie and leads to the plain URL
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        assert f"Login link: {url}hub/login?token={token}" in (tmp_path / "voila.log").read_text()
        with opener.open(f"{url}hub/login?token={token}", timeout=120) as page:
            assert page.status == 200 and page.url == url
            assert b"hub dashboard" in page.read()
        # read once, the token's carriers are gone: the private config file, the setting in
        # the environment, and the page's address (the kernel's QUERY_STRING is empty)
        import psutil

        assert not list((tmp_path / "home" / "run").glob("voila-*/voila.json"))
        kernels = psutil.Process(server.pid).children(recursive=True)
        assert kernels and all("HUB_SERVE_TOKEN" not in k.environ() for k in kernels)
        assert not any(token in value for k in kernels for value in k.environ().values())
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(20)
        log.close()
