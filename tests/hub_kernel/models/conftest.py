"""Fixtures for the model tests: a trainer and small tables (``models_home``, a fresh HUB_HOME
with a ready MLflow store, and ``make_mixed`` come from tests/conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest


@pytest.fixture
def trainer(models_home):
    from hub_kernel.models import ModelTrainer

    return ModelTrainer(cv=3, n_jobs=1)


@pytest.fixture
def mixed(make_mixed) -> pd.DataFrame:
    return make_mixed()


@pytest.fixture
def diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    return load_diabetes(as_frame=True).frame.head(150)


@pytest.fixture
def iris() -> pd.DataFrame:
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    frame["species"] = frame.pop("target").map({0: "setosa", 1: "versicolor", 2: "virginica"})
    return frame


# -- a shared MLflow: a real PostgreSQL and a real `mlflow server` (one each per session) ----
PG_PASSWORD = "s3cret-pw"  # a throwaway test server's


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bin() -> Path:
    """The folder of Debian's PostgreSQL server binaries; the test FAILS (never skips) without."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    pytest.fail("the PostgreSQL server binaries (initdb, pg_ctl) are missing: install them with "
                "`apt-get install postgresql` (`make test` does)")


def _as_postgres(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root (CI runs as root): run it as Debian's postgres user."""
    if os.geteuid() != 0:
        return argv
    if pwd_entry("postgres") is None:
        pytest.fail("running as root, PostgreSQL needs the `postgres` system user: install "
                    "Debian's package with `apt-get install postgresql`")
    return ["runuser", "-u", "postgres", "--", *argv]


def pwd_entry(user: str) -> Any:
    import pwd

    try:
        return pwd.getpwnam(user)
    except KeyError:
        return None


class Postgres:
    """A throwaway PostgreSQL server on 127.0.0.1 (a free port), its files in a tmp folder."""

    def __init__(self) -> None:
        # under /tmp itself: the postgres user cannot enter pytest's root-only tmp folders
        self.folder = Path(tempfile.mkdtemp(prefix="hub-pg-"))
        self.data = self.folder / "data"
        self.bin = postgres_bin()
        self.port = 0
        if os.geteuid() == 0:
            entry = pwd_entry("postgres")
            if entry is not None:
                os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        pwfile = self.folder / "pw"
        pwfile.write_text(PG_PASSWORD + "\n")
        if os.geteuid() == 0 and pwd_entry("postgres") is not None:
            os.chown(pwfile, pwd_entry("postgres").pw_uid, -1)
        self._run([str(self.bin / "initdb"), "-D", str(self.data), "-U", "hub", "-N",
                   f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8"])
        pwfile.unlink()

    def _run(self, argv: list[str]) -> None:
        done = subprocess.run(_as_postgres(argv), capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            pytest.fail(f"{argv[0]} failed: {done.stderr or done.stdout}")

    def start(self) -> None:
        for _ in range(3):  # a free port can be taken by another helper meanwhile
            self.port = free_port()
            options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                       "-c fsync=off -c max_connections=100")
            done = subprocess.run(_as_postgres([
                str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
                "-l", str(self.folder / "postgres.log"), "-w", "-t", "60", "start"]),
                capture_output=True, text=True, timeout=90)
            if done.returncode == 0:
                return
        log = (self.folder / "postgres.log").read_text(errors="replace")[-3000:]
        pytest.fail(f"PostgreSQL did not start: {done.stderr}\n{log}")

    def url(self, database: str, *, driver: str = "") -> str:
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://hub:{PG_PASSWORD}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user="hub",
                                      password=PG_PASSWORD, dbname="postgres")
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return self.url(name)

    def stop(self) -> None:
        subprocess.run(_as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m",
                                     "fast", "-w", "stop"]), capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for the session."""
    server = Postgres()
    try:
        server.start()
        yield server
    finally:
        server.stop()


def wait_for_health(url: str, process: subprocess.Popen, log: Path, timeout: float = 180.0
                    ) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the MLflow server exited ({process.returncode}):\n"
                        f"{log.read_text(errors='replace')[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the MLflow server at {url} did not answer /health in {timeout:.0f} s:\n"
                f"{log.read_text(errors='replace')[-4000:]}")


def stop_process_group(process: subprocess.Popen) -> None:
    import signal

    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=8)  # uvicorn waits for idle keep-alive connections
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def mlflow_server(postgres, tmp_path_factory):
    """A real ``mlflow server`` on PostgreSQL, serving artifacts from a tmp folder: its URL."""
    backend = postgres.create_database("mlflow").replace("postgresql://",
                                                         "postgresql+psycopg2://")
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = folder / "server.log"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend,
             "--serve-artifacts", "--artifacts-destination", str(folder / "artifacts"),
             "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url, process, log)
        yield {"url": url, "artifacts": folder / "artifacts", "log": log}
    finally:
        stop_process_group(process)


@pytest.fixture
def server_home(hub_home, mlflow_server, monkeypatch):
    """A fresh HUB_HOME whose models live on the shared MLflow server (HUB_MLFLOW_URI)."""
    from hub_kernel.core import config

    monkeypatch.setenv("HUB_MLFLOW_URI", mlflow_server["url"])
    # a busy 2-core machine: the server may take longer than the unit tests' 2 s to answer
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    config.reload_settings()
    hub_home.mkdir(parents=True, exist_ok=True)
    yield hub_home
    monkeypatch.undo()
    config.reload_settings()


@pytest.fixture
def server_tools():
    """The helpers above, for tests that start their own server."""
    from types import SimpleNamespace

    return SimpleNamespace(free_port=free_port, wait_for_health=wait_for_health,
                           stop_process_group=stop_process_group)
