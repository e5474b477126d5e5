"""The served dashboard answers only to its own address and allowed names (DNS rebinding)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from hub_kernel.voila_app import host_allowed

NAMES = frozenset({"dash.example.org"})


def test_the_host_rule():
    assert host_allowed("127.0.0.1:8866", bound="127.0.0.1", names=NAMES)
    assert host_allowed("localhost:8866", bound="127.0.0.1", names=NAMES)
    assert host_allowed("[::1]:8866", bound="::1", names=NAMES)
    assert host_allowed("dash.example.org:8866", bound="127.0.0.1", names=NAMES)
    assert not host_allowed("evil.example:8866", bound="127.0.0.1", names=NAMES)
    assert not host_allowed("192.168.1.9:8866", bound="127.0.0.1", names=NAMES)
    assert not host_allowed("localhost.evil.example", bound="127.0.0.1", names=NAMES)
    # off loopback: any address literal (a rebinding attack needs a name), named hosts only
    assert host_allowed("192.168.1.9:8866", bound="0.0.0.0", names=NAMES)
    assert not host_allowed("localhost:8866", bound="0.0.0.0", names=NAMES)
    assert not host_allowed("evil.example", bound="0.0.0.0", names=NAMES)


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def fetch(port: int, path: str, host: str | None = None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection.request("GET", path, headers={"Host": host or f"127.0.0.1:{port}"})
    response = connection.getresponse()
    text = response.read().decode()
    connection.close()
    try:
        return response.status, json.loads(text)
    except ValueError:
        return response.status, {"text": text}


def get(port: int, host: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection.request("GET", "/", headers={"Host": host})
    status = connection.getresponse().status
    connection.close()
    return status


@pytest.mark.slow
def test_a_page_under_another_name_is_refused_by_a_real_server(repo, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "HUB_HOME": str(tmp_path / "home")}
    # no login (--auth none, loopback): the host check alone decides here
    cmd = [sys.executable, "-m", "hub_kernel.cli", "demo", "--port", str(port), "--no-preheat",
           "--allow-host", "dash.example.org", "--auth", "none"]
    log = (tmp_path / "voila.log").open("w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not listening(port):
            assert server.poll() is None, (tmp_path / "voila.log").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert get(port, f"evil.example:{port}") == 403  # a rebinding page gets nothing
        assert get(port, f"127.0.0.1:{port}") == 200
        assert get(port, f"dash.example.org:{port}") == 200
        # a load balancer's probe: the doctor's checks, no credential needed, no paths
        status, body = fetch(port, "/hub/health")
        assert status == 200 and body["status"] == "ok", body
        assert {c["name"] for c in body["checks"]} >= {"HUB_HOME", "kernel", "mlflow"}
        assert str(tmp_path) not in json.dumps(body)
        assert fetch(port, "/hub/health", f"evil.example:{port}")[0] == 403
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(20)
        log.close()
    assert "Blocking a request for host 'evil.example" in (tmp_path / "voila.log").read_text()


def test_health_is_503_when_a_check_fails_and_names_it(hub_home, monkeypatch):
    from hub_kernel.core import config
    from hub_kernel.health import health_report

    status, body = health_report()
    assert status == 200 and body["failed"] == []
    monkeypatch.setenv("HUB_MLFLOW_TRACKING_URI", "http://user:secret@127.0.0.1:9/")
    settings = config.reload_settings()
    status, body = health_report(settings)
    assert status == 503 and "mlflow" in body["failed"]
    assert "secret" not in json.dumps(body)
