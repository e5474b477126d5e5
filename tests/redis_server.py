"""A real ``redis-server`` for tests: on 127.0.0.1 at a free port, in a tmp dir, stopped after.

Never skipped: without the binary the test fails saying which Debian package to install.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import pytest

INSTALL = "apt-get install redis-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """``redis-server --port <free> --bind 127.0.0.1 --save '' --dir <tmp>``; with
    ``appendonly`` every write is fsynced to an append-only file, so a kill -9 and a restart
    (``kill()``, ``start()``) keep the data; with ``tls`` it speaks only TLS (``rediss://``)
    with a self-signed certificate for 127.0.0.1 (``ca``)."""

    def __init__(self, folder: Path, *, appendonly: bool = False,
                 password: str | None = None, tls: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(f"redis-server not found: install it with `{INSTALL}` (make test does "
                        "this as root); Redis tests are never skipped")
        self.binary = binary
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.appendonly = appendonly
        self.password = password
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.tls = tls
        self.ca = folder / "cert.pem"
        if tls:
            self._certificate()

    def _certificate(self) -> None:
        openssl = shutil.which("openssl")
        if openssl is None:
            pytest.fail("openssl not found: install it with `apt-get install openssl`")
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-keyout", str(self.folder / "key.pem"), "-out", str(self.ca),
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True)

    def start(self) -> RedisServer:
        ports = ["--port", str(self.port)]
        if self.tls:
            ports = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file",
                     str(self.ca), "--tls-key-file", str(self.folder / "key.pem"),
                     "--tls-ca-cert-file", str(self.ca), "--tls-auth-clients", "no"]
        argv = [self.binary, *ports, "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "always",
                "--dir", str(self.folder), "--logfile", str(self.folder / "redis.log"),
                "--daemonize", "no"]
        if self.password:
            argv += ["--requirepass", self.password]
        deadline = time.monotonic() + 15
        while True:  # after a kill the port may take a moment to be free again
            self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
            if self._wait_ready(deadline):
                return self
            if time.monotonic() > deadline:
                log = (self.folder / "redis.log").read_text(errors="replace")[-2000:]
                raise AssertionError(f"redis-server did not start on port {self.port}:\n{log}")
            time.sleep(0.2)

    def _wait_ready(self, deadline: float) -> bool:
        import redis

        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                if self.client().ping():
                    return True
            except redis.ConnectionError:
                time.sleep(0.05)
            except redis.BusyLoadingError:
                time.sleep(0.05)
        return False

    def client(self):  # a redis.Redis
        import redis

        tls = {"ssl": True, "ssl_ca_certs": str(self.ca)} if self.tls else {}
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password,
                           socket_timeout=5, **tls)

    def url(self, stream: str, *, password: str | None = None, **query: str) -> str:
        secret = password if password is not None else self.password
        auth = f":{quote(secret, safe='')}@" if secret else ""
        if self.tls:
            query = {"ssl_ca_certs": str(self.ca), **query}
        params = "&".join(f"{k}={v}" for k, v in query.items())
        scheme = "rediss" if self.tls else "redis"
        return (f"{scheme}://{auth}127.0.0.1:{self.port}/0/{stream}"
                + (f"?{params}" if params else ""))

    def kill(self) -> None:
        """kill -9: no shutdown, no save."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
