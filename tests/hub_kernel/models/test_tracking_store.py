"""The SQLite MLflow store under HUB_HOME: WAL, a busy timeout, and safe to create and write from
several processes at once (a notebook, the scheduler and the CLI share it)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from hub_kernel.models.tracking import SQLITE_BUSY_TIMEOUT, TrackingStore


def journal_mode(path) -> str:
    with sqlite3.connect(path) as db:
        return str(db.execute("PRAGMA journal_mode").fetchone()[0])


def test_the_store_hub_creates_is_in_wal_mode_and_its_connections_wait(hub_home):
    import sqlalchemy

    store = TrackingStore.from_settings().open()
    path = hub_home / "mlflow.db"
    assert journal_mode(path) == "wal"
    # any SQLAlchemy connection to it (MLflow's engine, its migrations) gets the busy timeout
    with sqlalchemy.create_engine(store.tracking_uri).connect() as connection:
        timeout = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
    assert timeout == int(SQLITE_BUSY_TIMEOUT * 1000)

    # another process holds the write lock for a moment: registering waits, it does not fail
    store.client.create_registered_model("m")
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(1.0, holder.execute, ["ROLLBACK"])
    release.start()
    started = time.monotonic()
    version = store.client.create_model_version("m", source=str(hub_home / "artifacts"))
    assert int(version.version) == 1 and time.monotonic() - started >= 0.9
    release.join()
    holder.close()


def test_an_existing_store_is_switched_to_wal_when_hub_opens_it(models_home):
    path = models_home / "mlflow.db"
    assert journal_mode(path) == "delete"  # made by MLflow alone, as older hub versions did
    TrackingStore.from_settings().open()
    assert journal_mode(path) == "wal"


_REGISTER = textwrap.dedent("""
    import sys
    from mlflow.exceptions import MlflowException
    from hub_kernel.models.tracking import TrackingStore

    store = TrackingStore.from_settings().open()  # creates the store if nobody did yet
    try:
        store.client.create_registered_model("shared")
    except MlflowException:
        pass  # the other process made it
    for i in range(int(sys.argv[1])):
        store.client.create_model_version("shared", source=sys.argv[2], tags={"i": str(i)})
        store.client.search_model_versions("name = 'shared'")
    print("registered")
""")


@pytest.mark.slow
def test_two_processes_creating_the_store_and_registering_at_once_do_not_fail(hub_home):
    # before: both ran MLflow's migrations on the new file at once and one failed ("table
    # datasets already exists", "duplicate column name: step"); now the second waits for the
    # first under a file lock
    hub_home.mkdir(parents=True)
    processes = [subprocess.Popen([sys.executable, "-c", _REGISTER, "8", str(hub_home)],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for _ in range(2)]
    outputs = [p.communicate(timeout=240)[0] for p in processes]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-3000:]
        assert "registered" in output and "database is locked" not in output
    with sqlite3.connect(hub_home / "mlflow.db") as db:
        assert db.execute("SELECT COUNT(*) FROM model_versions WHERE name = 'shared'"
                          ).fetchone()[0] == 16
    assert journal_mode(hub_home / "mlflow.db") == "wal"


@pytest.mark.slow
def test_a_write_refused_with_database_is_locked_is_retried(models_home):
    """A writer that holds SQLite's lock longer than MLflow waits (its sessions give up after
    20 s with "database is locked"): mlflow's own client fails, hub's repeats the call and
    succeeds once the lock is released."""
    from mlflow import MlflowClient

    store = TrackingStore.from_settings().open()
    holder = sqlite3.connect(models_home / "mlflow.db", isolation_level=None,
                             check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    plain: list[BaseException] = []

    def plain_write() -> None:
        try:
            MlflowClient(tracking_uri=store.tracking_uri,
                         registry_uri=store.tracking_uri).create_registered_model("plain")
        except Exception as exc:
            plain.append(exc)

    other = threading.Thread(target=plain_write)
    release = threading.Timer(23.0, holder.execute, ["ROLLBACK"])
    try:
        other.start()
        release.start()
        started = time.monotonic()
        store.client.create_registered_model("retried")  # hub's client waits it out
        assert time.monotonic() - started >= 22
        other.join(timeout=60)
        release.join()
    finally:
        holder.close()
    assert plain and "database is locked" in str(plain[0])
    assert store.client.get_registered_model("retried").name == "retried"
