"""``hub mlflow-server`` (``models.server``): a team's MLflow on PostgreSQL, checked before it
starts, the password never shown; started for real and used through HUB_MLFLOW_URI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from hub_kernel.exceptions import ModelError
from hub_kernel.models.server import parse_backend, prepare_server

runner = CliRunner()


def hub(*args: str, code: int = 0) -> str:
    from hub_kernel.cli import app

    result = runner.invoke(app, list(args))
    print(f"$ hub {' '.join(args)}\n{result.output}")
    assert result.exit_code == code, result.output
    return result.output


def test_a_bare_postgresql_url_gets_the_installed_driver():
    backend = parse_backend("postgresql://ana:pw@db.example:6543/mlflow")
    assert backend.uri.startswith("postgresql+psycopg2://ana:pw@")  # psycopg 3 not installed
    assert (backend.host, backend.port, backend.database) == ("db.example", 6543, "mlflow")


@pytest.mark.parametrize("url, problem", [
    ("sqlite:///x.db", "is not a PostgreSQL URL"),
    ("postgresql://ana:pw@db.example:5432/", "needs a host and a database"),
    ("postgresql://ana:pw@db.example:notaport/x", "cannot be read"),
])
def test_what_is_not_a_postgresql_url_is_refused_without_its_password(url, problem):
    with pytest.raises(ModelError, match=problem) as refused:
        parse_backend(url)
    assert "pw" not in str(refused.value).replace("PASSWORD", "")


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once closed


def test_an_unreachable_database_names_the_host_and_hides_the_password(tmp_path, hub_home):
    port = _closed_port()
    url = f"postgresql://ana:Hidden-Pw-42@127.0.0.1:{port}/mlflow"
    out = hub("mlflow-server", "--backend-store-uri", url, "--artifacts-destination",
              str(tmp_path / "art"), "--dry-run", code=1)
    assert f"127.0.0.1:{port}" in out and "'mlflow'" in out and "does not answer" in out
    assert "Hidden-Pw-42" not in out


def test_doctor_names_an_unreachable_server_without_its_credentials():
    from hub_kernel.doctor import check_mlflow_server

    port = _closed_port()
    check = check_mlflow_server(f"http://ana:Hidden-Pw-42@127.0.0.1:{port}", timeout=2)
    assert check.status == "fail" and f"127.0.0.1:{port}" in check.detail
    assert "Hidden-Pw-42" not in check.detail and "ana" not in check.detail


@pytest.mark.slow
def test_wrong_password_and_missing_database_are_told_apart(postgres, tmp_path):
    wrong = postgres.url("postgres").replace(":s3cret-pw@", ":Wrong-Pw-7@")
    with pytest.raises(ModelError, match="password authentication failed") as refused:
        prepare_server(wrong, tmp_path / "art", host="127.0.0.1", port=5000)
    assert "Wrong-Pw-7" not in str(refused.value) and "s3cret" not in str(refused.value)
    with pytest.raises(ModelError, match='database "nowhere" does not exist'):
        prepare_server(postgres.url("nowhere"), tmp_path / "art", host="127.0.0.1", port=5000)


@pytest.mark.slow
def test_hub_mlflow_server_starts_a_server_the_team_uses(postgres, tmp_path, hub_home,
                                                         monkeypatch, server_tools):
    """`hub mlflow-server` as a real process: it checks PostgreSQL, prints the line to set,
    starts `mlflow server` (the password in no command line), and hub works against it."""
    free_port = server_tools.free_port
    wait_for_health = server_tools.wait_for_health
    stop_process_group = server_tools.stop_process_group
    url = postgres.create_database("team")
    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "HUB_MLFLOW_BACKEND_STORE_URI": url,
           "MLFLOW_DISABLE_TELEMETRY": "true"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "hub_kernel.cli", "mlflow-server", "--artifacts-destination",
             str(tmp_path / "artifacts"), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        wait_for_health(f"http://127.0.0.1:{port}", process, log)
        printed = log.read_text(errors="replace")
        assert f"HUB_MLFLOW_URI=http://127.0.0.1:{port}" in printed
        assert "s3cret-pw" not in printed
        cmdline = (f"/proc/{process.pid}/cmdline")
        if os.path.exists(cmdline):
            with open(cmdline, "rb") as handle:
                assert b"s3cret-pw" not in handle.read()

        from hub_kernel.core import config
        from hub_kernel.models.registry import ModelRegistry

        monkeypatch.setenv("HUB_MLFLOW_URI", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
        config.reload_settings()
        registry = ModelRegistry()
        assert registry.list_models() == []
        from hub_kernel.doctor import check_mlflow

        check = check_mlflow(config.get_settings())
        assert check.status == "ok" and "answers" in check.detail, check
    finally:
        stop_process_group(process)
    from hub_kernel.doctor import check_mlflow

    check = check_mlflow(config.get_settings())  # the server is gone: doctor says so
    assert check.status == "fail" and "does not answer" in check.detail, check
    assert "hub mlflow-server" in check.detail


@pytest.mark.slow
def test_a_server_for_the_team_accepts_this_machine_s_name(postgres, tmp_path):
    import socket

    plan = prepare_server(postgres.url("postgres"), tmp_path / "art", host="0.0.0.0",
                          port=5123, workers=2)
    assert plan.client_uri == f"http://{socket.getfqdn()}:5123"
    allowed = plan.argv[plan.argv.index("--allowed-hosts") + 1].split(",")
    assert f"{socket.getfqdn()}:*" in allowed and "127.0.0.1:*" in allowed
    assert plan.argv[plan.argv.index("--workers") + 1] == "2"
    assert "s3cret-pw" not in " ".join(plan.argv) and "s3cret-pw" not in plan.shown()
    assert plan.env["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg2://hub:")
    # on loopback mlflow's own defaults apply
    assert "--allowed-hosts" not in prepare_server(
        postgres.url("postgres"), tmp_path / "art", host="127.0.0.1", port=5123).argv


def test_a_database_named_as_the_tracking_uri_is_refused_with_what_to_do(hub_home,
                                                                         monkeypatch):
    from hub_kernel.core import config
    from hub_kernel.doctor import check_mlflow
    from hub_kernel.models.registry import ModelRegistry

    monkeypatch.setenv("HUB_MLFLOW_URI", "postgresql://ana:Hidden-Pw-42@db.team/mlflow")
    config.reload_settings()
    with pytest.raises(ModelError, match="names a database, not a tracking server") as refused:
        ModelRegistry().list_models()
    assert "hub mlflow-server" in str(refused.value)
    assert "Hidden-Pw-42" not in str(refused.value)
    check = check_mlflow(config.get_settings())
    assert check.status == "fail" and "Hidden-Pw-42" not in check.detail
    monkeypatch.undo()
    config.reload_settings()


def test_a_missing_driver_says_which_extra_to_install(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "psycopg2" else real(name, *a))
    with pytest.raises(ModelError,
                       match=r"psycopg2 is not installed: pip install 'hub\[postgres\]'"):
        prepare_server("postgresql://ana:pw@127.0.0.1:5/x", tmp_path / "art",
                       host="127.0.0.1", port=5000)
    monkeypatch.undo()
    with pytest.raises(ModelError, match=r"psycopg \(3\).*give postgresql://"):
        prepare_server("postgresql+psycopg://ana:pw@127.0.0.1:5/x", tmp_path / "art",
                       host="127.0.0.1", port=5000)
