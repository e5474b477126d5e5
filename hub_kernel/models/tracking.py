"""The MLflow store hub uses: tracking, artifacts and registry, embedded under ``HUB_HOME``.

By default tracking and the model registry share one SQLite file (``settings.tracking_uri``) and
artifacts are files under ``settings.artifacts_dir``. ``TrackingStore.open()`` checks the store can
be used before any work starts, so an unreachable server or an unopenable file is one clear
``ModelError`` instead of a long retry loop or a half-written run.

A local SQLite store is prepared once per process before any client opens it
(``prepare_store``; every client hub makes comes from ``mlflow_client``): it is created under a
file lock (two processes creating it at once race through MLflow's schema migrations and fail),
switched to WAL (readers never block a writer; the mode stays with the file), and every
connection SQLAlchemy opens to it gets a busy timeout of ``SQLITE_BUSY_TIMEOUT`` seconds. SQLite
still refuses a writer once MLflow's own sessions stop waiting (20 s), and at once a reader that
must become a writer while another process writes ("database is locked"): every call of a
client on such a store is retried, with backoff, for up to ``LOCKED_RETRY_SECONDS`` (a refused
statement rolled back: repeating it is safe).
An MLflow server (``HUB_MLFLOW_URI=http://...``) needs none of this: its database serializes
the writers.

``repair_runs`` marks KILLED the runs a dead process left RUNNING (hub tags each run with its
process: ``process_marker``). mlflow is imported inside the functions that need it: importing
this module stays light.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import random
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar
from urllib.parse import unquote, urlsplit

from hub_kernel.core.process import alive, this_process
from hub_kernel.core.redact import redact_text, redact_url
from hub_kernel.core.sqlite import connect
from hub_kernel.exceptions import HubError, ModelError

if TYPE_CHECKING:
    from mlflow import MlflowClient

logger = logging.getLogger("hub_kernel")

EXPERIMENT_NAME = "hub"
_CONNECT_TIMEOUT = 3.0
#: a RUNNING run of another host is taken as dead after this long (``repair_runs``)
STALE_AFTER = timedelta(hours=24)
_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")

# mlflow's fluent API (used by ``mlflow.sklearn.log_model`` and ``models:/`` URIs) reads a
# process-wide tracking URI: hub sets it only while holding this lock, then restores it
_FLUENT_LOCK = threading.RLock()

#: seconds a connection to a local store waits for another process's lock before failing
SQLITE_BUSY_TIMEOUT = 30.0
#: seconds a call refused with "database is locked" is retried before the error is raised
LOCKED_RETRY_SECONDS = 60.0
_CREATE_TIMEOUT = 300.0  # creating a store (its migrations) takes seconds; waiting, no more
_prepared: set[str] = set()  # the SQLite files this process prepared (resolved paths)
_prepare_lock = threading.Lock()

P = ParamSpec("P")
R = TypeVar("R")


def quiet_mlflow() -> None:
    """mlflow sets its loggers to INFO on import and logs every migration of a new store."""
    for noisy in ("mlflow", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def translate_errors(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: any non-hub exception becomes a ``ModelError`` saying ``what`` failed."""
    import functools

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return func(*args, **kwargs)
            except HubError:
                raise
            except Exception as exc:
                raise ModelError(f"{what} failed: {_one_line(exc)}") from exc

        return wrapper

    return decorate


def _one_line(exc: BaseException) -> str:
    """The first line of ``exc``, credentials in any URL it quotes removed."""
    text = str(exc).strip().splitlines()
    return redact_text((text[0] if text else type(exc).__name__)[:500])


def sqlite_file(uri: str) -> Path | None:
    """The file of a local ``sqlite:///`` store (None for a server, memory or a remote host)."""
    parts = urlsplit(uri)
    if parts.scheme.lower() != "sqlite" or parts.netloc:
        return None
    raw = unquote(uri[len("sqlite:///"):]).split("?", 1)[0]
    if raw in ("", ":memory:"):
        return None
    return Path(raw if raw.startswith("/") else "/" + raw)


def _on_connect(dbapi_connection: object, _record: object) -> None:
    """SQLAlchemy ``connect`` event: a busy timeout on connections to a prepared store."""
    if not _prepared or not isinstance(dbapi_connection, sqlite3.Connection):
        return
    try:
        files = {row[2] for row in dbapi_connection.execute("PRAGMA database_list")}
        if files & _prepared:
            dbapi_connection.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT * 1000)}")
    except sqlite3.Error:  # never stop a connection from opening
        logger.debug("could not set the busy timeout of an MLflow store", exc_info=True)


@contextlib.contextmanager
def file_lock(lock_path: os.PathLike[str], wait: float, *, what: str, busy: str,
              poll: float = 0.05) -> Iterator[None]:
    """Hold an exclusive flock on ``lock_path`` (released by the OS if this process dies),
    waiting up to ``wait`` seconds; ``ModelError`` naming ``what`` if it cannot be opened, or
    saying ``busy`` when the wait runs out."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: one process per store
        yield
        return
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ModelError(f"{what} {lock_path} cannot be opened: {exc.strerror}; "
                         "check the permissions of HUB_HOME") from exc
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ModelError(busy) from None
                time.sleep(poll)
        yield
    finally:
        os.close(fd)  # releases the flock


def _creating(lock_path: Path) -> contextlib.AbstractContextManager[None]:
    """Hold an exclusive lock on ``lock_path`` while a store is created; ``ModelError`` after
    ``_CREATE_TIMEOUT`` seconds of waiting."""
    return file_lock(
        lock_path, _CREATE_TIMEOUT, what="MLflow store lock",
        busy=f"another process has been creating the MLflow store next to {lock_path} for "
             f"more than {_CREATE_TIMEOUT:.0f} s; stop it or remove the half-made store")


def prepare_store(uri: str) -> None:
    """Make a local SQLite store ready for several processes (once per process and file): WAL,
    a busy timeout on every connection, its tables created under a file lock. Anything else
    (a server, an in-memory store) is left alone. Raises ``ModelError`` if it cannot be."""
    path = sqlite_file(uri)
    if path is None:
        return
    keys = {str(path), str(path.resolve())}  # as SQLite names it, and without links
    with _prepare_lock:
        if keys <= _prepared and path.exists():
            return
        import sqlalchemy
        from sqlalchemy import event

        if not event.contains(sqlalchemy.engine.Engine, "connect", _on_connect):
            event.listen(sqlalchemy.engine.Engine, "connect", _on_connect)
        _prepared.update(keys)  # before MLflow's first connection, which creates the tables
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with _creating(path.with_name(path.name + ".lock")):
                connect(path, what="MLflow store", error=ModelError,
                        timeout=SQLITE_BUSY_TIMEOUT).close()  # WAL: kept by the file
                from mlflow import MlflowClient

                quiet_mlflow()
                client = MlflowClient(tracking_uri=uri, registry_uri=uri)  # migrates, locked
                client.search_registered_models(max_results=1)
        except HubError:
            _prepared.difference_update(keys)
            raise
        except Exception as exc:
            _prepared.difference_update(keys)
            raise ModelError(f"MLflow store {redact_url(uri)} cannot be opened: "
                             f"{_one_line(exc)}; check HUB_MLFLOW_TRACKING_URI or the "
                             "permissions of HUB_HOME") from exc


def _locked(exc: BaseException) -> bool:
    text = str(exc)
    return "database is locked" in text or "database table is locked" in text


def _retry_locked(func: Callable[P, R]) -> Callable[P, R]:
    """``func``, repeated while SQLite answers "database is locked" (module docstring)."""
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        deadline = time.monotonic() + LOCKED_RETRY_SECONDS
        pause = 0.02
        while True:
            try:
                return func(*args, **kwargs)
            except Exception as exc:
                if not _locked(exc) or time.monotonic() > deadline:
                    raise
                logger.info("the MLflow store is locked by another writer; %s again",
                            func.__name__)
                time.sleep(pause + random.uniform(0, pause))  # noqa: S311 - jitter only
                pause = min(pause * 2, 1.0)

    return wrapper


@functools.cache
def _sqlite_client_class() -> type[MlflowClient]:
    """``MlflowClient`` with every public method retried on "database is locked"."""
    from mlflow import MlflowClient

    def retried(name: str, member: Callable[..., object]) -> Callable[..., object]:
        @functools.wraps(member)
        def method(self: MlflowClient, *args: object, **kwargs: object) -> object:
            # looked up at each call: what patches MlflowClient patches this class too
            return _retry_locked(getattr(MlflowClient, name))(self, *args, **kwargs)

        return method

    methods = {name: retried(name, member) for name, member in vars(MlflowClient).items()
               if not name.startswith("_") and inspect.isfunction(member)}
    return type("SQLiteMlflowClient", (MlflowClient,), methods)


_DATABASES = ("postgresql", "postgres", "mysql", "mssql", "oracle")


def check_uri(uri: str) -> None:
    """``ModelError`` for a tracking URI hub cannot share models through: a database named
    directly (each machine would keep the artifacts on its own disk, where the others cannot
    load them); a team uses a tracking server in front of it."""
    scheme = urlsplit(uri).scheme.lower().split("+", 1)[0]
    if scheme in _DATABASES:
        raise ModelError(
            f"HUB_MLFLOW_URI {redact_url(uri)} names a database, not a tracking server: the "
            "models' files would stay on each machine. Start a server on it (`hub mlflow-server "
            "--backend-store-uri URL --artifacts-destination DIR`) and set HUB_MLFLOW_URI to "
            "the http:// address it prints")


def mlflow_client(uri: str) -> MlflowClient:
    """An ``MlflowClient`` for tracking and registry at ``uri``, the store prepared first
    (``prepare_store``); on a local SQLite store its calls are retried while another process
    holds the write lock."""
    from mlflow import MlflowClient

    prepare_store(uri)
    quiet_mlflow()
    # hub never lets mlflow unpickle a model (``models.artifact`` loads them): mlflow's own
    # loaders refuse every format in this process unless someone chose otherwise explicitly
    os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    cls = _sqlite_client_class() if sqlite_file(uri) is not None else MlflowClient
    return cls(tracking_uri=uri, registry_uri=uri)


def ensure_experiment(client: MlflowClient, name: str, *, tracking_uri: str,
                      artifacts_dir: Path, tags: dict[str, str] | None = None) -> str:
    """The id of experiment ``name``, created (artifacts under ``artifacts_dir`` for a local
    store) or restored from deletion if needed; safe when another process creates it too."""
    from mlflow.exceptions import MlflowException

    existing = client.get_experiment_by_name(name)
    if existing is not None:
        if existing.lifecycle_stage == "deleted":
            client.restore_experiment(existing.experiment_id)
        return str(existing.experiment_id)
    # a local store keeps artifacts under HUB_HOME; a server decides where they go
    remote = urlsplit(tracking_uri).scheme.lower() in ("http", "https")
    if not remote:
        artifacts_dir.mkdir(parents=True, exist_ok=True)
    location = None if remote else artifacts_dir.resolve().as_uri()
    try:
        return str(client.create_experiment(name, artifact_location=location, tags=tags))
    except MlflowException:  # created meanwhile by another process
        again = client.get_experiment_by_name(name)
        if again is None:
            raise
        return str(again.experiment_id)


@dataclass
class TrackingStore:
    """Where runs, artifacts and registered models live.

    ``tracking_uri`` defaults to ``settings.tracking_uri`` and ``artifacts_dir`` to
    ``settings.artifacts_dir`` (read when the store is created).
    """

    tracking_uri: str
    artifacts_dir: Path

    @classmethod
    def from_settings(cls, tracking_uri: str | None = None) -> TrackingStore:
        from hub_kernel.core.config import get_settings

        settings = get_settings()
        uri = tracking_uri or settings.tracking_uri
        if uri == f"sqlite:///{settings.home / 'mlflow.db'}":
            try:
                settings.ensure_home()
            except OSError as exc:
                raise ModelError(
                    f"cannot create HUB_HOME {settings.home}: {exc.strerror}; set HUB_HOME to a "
                    "writable folder"
                ) from exc
        return cls(tracking_uri=uri, artifacts_dir=settings.artifacts_dir)

    @property
    def shown_uri(self) -> str:
        """``tracking_uri`` as messages show it (no credentials)."""
        return redact_url(self.tracking_uri)

    def __post_init__(self) -> None:
        self._client: MlflowClient | None = None
        self._experiment_id: str | None = None

    # -- opening -------------------------------------------------------------------------
    def _check_reachable(self) -> None:
        check_uri(self.tracking_uri)
        parts = urlsplit(self.tracking_uri)
        scheme = parts.scheme.lower()
        if scheme in ("http", "https"):
            port = parts.port or (443 if scheme == "https" else 80)
            try:
                with socket.create_connection((parts.hostname or "", port), _CONNECT_TIMEOUT):
                    pass
            except OSError as exc:
                raise ModelError(
                    f"MLflow tracking server {parts.scheme}://{parts.hostname}:{port} is "
                    f"unreachable ({exc.strerror or exc}); start it or unset "
                    "HUB_MLFLOW_TRACKING_URI to use the store under HUB_HOME"
                ) from None
        elif scheme == "sqlite":
            raw = unquote(self.tracking_uri[len("sqlite:///"):])
            if raw in ("", ":memory:"):
                return
            path = Path(raw if raw.startswith("/") else "/" + raw) if parts.netloc == "" else None
            if path is None:
                return
            folder = path.parent
            if not folder.is_dir():
                raise ModelError(
                    f"MLflow store {self.tracking_uri} cannot be opened: folder {folder} does not "
                    "exist; create it or fix HUB_MLFLOW_TRACKING_URI"
                )
            if not os.access(folder, os.W_OK | os.X_OK) or (
                path.exists() and not os.access(path, os.R_OK | os.W_OK)
            ):
                raise ModelError(
                    f"MLflow store {self.tracking_uri} cannot be opened: {folder} is not writable;"
                    " fix its permissions or HUB_MLFLOW_TRACKING_URI"
                )

    @property
    def client(self) -> MlflowClient:
        """An ``MlflowClient`` on this store (opened and checked on first use)."""
        if self._client is None:
            self.open()
        assert self._client is not None
        return self._client

    def open(self) -> TrackingStore:
        """Check the store can be used and create hub's experiment; ``ModelError`` if not."""
        if self._client is not None and self._experiment_id is not None:
            return self
        self._check_reachable()
        try:
            client = mlflow_client(self.tracking_uri)
            self._experiment_id = self._ensure_experiment(client)
        except HubError:
            raise
        except Exception as exc:
            raise ModelError(
                f"MLflow store {self.shown_uri} cannot be opened: {_one_line(exc)}; check "
                "HUB_MLFLOW_TRACKING_URI or the permissions of HUB_HOME"
            ) from exc
        self._client = client
        return self

    def _ensure_experiment(self, client: MlflowClient) -> str:
        return ensure_experiment(client, EXPERIMENT_NAME, tracking_uri=self.tracking_uri,
                                 artifacts_dir=self.artifacts_dir)

    @property
    def experiment_id(self) -> str:
        if self._experiment_id is None:
            self.open()
        assert self._experiment_id is not None
        return self._experiment_id

    @contextlib.contextmanager
    def fluent(self) -> Iterator[None]:
        """Point mlflow's process-wide URIs at this store for the block (one thread at a time)."""
        import mlflow
        from mlflow.tracking._model_registry import utils as registry_utils
        from mlflow.tracking._tracking_service import utils as tracking_utils

        with _FLUENT_LOCK:
            saved_tracking = getattr(tracking_utils, "_tracking_uri", None)
            saved_registry = getattr(registry_utils, "_registry_uri", None)
            saved_env = {k: os.environ.get(k) for k in _URI_VARIABLES}
            mlflow.set_tracking_uri(self.tracking_uri)
            mlflow.set_registry_uri(self.tracking_uri)
            try:
                yield
            finally:
                mlflow.set_tracking_uri(saved_tracking)  # type: ignore[arg-type]  # None unsets
                registry_utils._registry_uri = saved_registry
                for key, value in saved_env.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value


def process_marker() -> dict[str, str]:
    """Tags identifying this process, so a run it leaves RUNNING can be told apart later."""
    me = this_process()
    return {"hub.pid": str(me["pid"]), "hub.host": str(me["host"]),
            "hub.pid_started": me["pid_started"] or ""}


def metric_key(name: str) -> str:
    """``name`` as a valid MLflow metric key (letters, digits, ``_ - . space`` and no more)."""
    key = re.sub(r"[^\w.\- ]", "_", name).strip(" .") or "_"
    return key[:200]


# -- repair ---------------------------------------------------------------------------------
@translate_errors("repairing the tracking store")
def repair_runs(store: TrackingStore, *, stale_after: timedelta = STALE_AFTER) -> list[str]:
    """Mark as KILLED hub's runs left RUNNING by a process that is gone.

    A run started on this host is stale when its process no longer exists (or its pid now
    belongs to another process: ``core.process.alive``); one from another host when it started
    more than ``stale_after`` ago. Returns their run ids.
    """
    client = store.client
    host = socket.gethostname()
    now = datetime.now(UTC)
    repaired = []
    runs = client.search_runs(
        [store.experiment_id], filter_string="attributes.status = 'RUNNING'",
        max_results=1000,
    )
    for run in runs:
        tags = run.data.tags
        pid = tags.get("hub.pid")
        if not pid or not pid.isdigit():
            continue  # not started by hub
        started = (datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC)
                   if run.info.start_time else now)
        if tags.get("hub.host") == host:
            stale = not alive(int(pid), tags.get("hub.pid_started") or None)
        else:
            stale = now - started > stale_after
        if not stale:
            continue
        client.set_tag(run.info.run_id, "hub.repaired",
                       f"process {pid} on {tags.get('hub.host')} ended without finishing")
        client.set_terminated(run.info.run_id, status="KILLED")
        _fail_pending_models(store, run.info.run_id)
        repaired.append(run.info.run_id)
        logger.warning("marked run %s KILLED: its process %s is gone", run.info.run_id, pid)
    return repaired


def _fail_pending_models(store: TrackingStore, run_id: str) -> None:
    """Mark FAILED the logged models a dead run left half-uploaded (never registered)."""
    from mlflow.entities import LoggedModelStatus

    try:
        models = store.client.search_logged_models(
            [store.experiment_id], filter_string=f"source_run_id = '{run_id}'",
        )
        for model in models:
            if model.status == LoggedModelStatus.PENDING:
                store.client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
    except Exception as exc:  # best effort: the registry never points at them anyway
        logger.warning("could not mark the logged models of run %s failed: %s", run_id, exc)
