"""A team's MLflow tracking server: PostgreSQL for runs and the registry, and the server itself
serving the artifacts, so team members need only ``HUB_MLFLOW_URI=http://host:port``.

``server_command`` checks everything it can before ``mlflow server`` starts: the backend store
URL (PostgreSQL), the driver (``pip install 'hub[postgres]'``), that the database answers (an
error names the host, port and database and the problem, never the password), and the
artifacts folder. ``redact_uri`` is how hub shows such URLs anywhere.

SQLAlchemy 2.1 reads a bare ``postgresql://`` as psycopg 3; hub's ``postgres`` extra installs
psycopg2, so such a URL is given to MLflow as ``postgresql+psycopg2://`` when psycopg 3 is
missing.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from hub_kernel.core.redact import redact_url
from hub_kernel.exceptions import ModelError

_SCHEMES = {"postgresql": "", "postgres": "", "postgresql+psycopg2": "psycopg2",
            "postgresql+psycopg": "psycopg"}
_INSTALL = "pip install 'hub[postgres]'"


def redact_uri(uri: str) -> str:
    """``uri`` without its password (or any userinfo) and secret query values."""
    return redact_url(uri)


@dataclass(frozen=True)
class Backend:
    """A PostgreSQL backend store URL, parsed."""

    uri: str  # as MLflow gets it (with the driver)
    host: str
    port: int
    database: str
    user: str
    password: str | None

    @property
    def where(self) -> str:
        return f"PostgreSQL at {self.host}:{self.port}, database {self.database!r}"


def parse_backend(uri: str) -> Backend:
    """The backend store URL ``uri`` checked and completed with its driver; ``ModelError``
    naming the (redacted) URL when it is not a PostgreSQL URL with a host and a database."""
    shown = redact_uri(uri)
    try:
        parts = urlsplit(uri)
        port = parts.port or 5432
    except ValueError as exc:
        raise ModelError(f"backend store URL {shown} cannot be read ({exc}); give "
                         "postgresql://USER:PASSWORD@HOST:PORT/DATABASE") from None
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ModelError(f"backend store URL {shown} is not a PostgreSQL URL; give "
                         "postgresql://USER:PASSWORD@HOST:PORT/DATABASE (hub mlflow-server "
                         "runs a team's server on PostgreSQL)")
    database = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not database:
        raise ModelError(f"backend store URL {shown} needs a host and a database: "
                         "postgresql://USER:PASSWORD@HOST:PORT/DATABASE")
    driver = _SCHEMES[scheme]
    if not driver:  # SQLAlchemy 2.1's default driver is psycopg 3
        driver = "psycopg" if importlib.util.find_spec("psycopg") else "psycopg2"
    rest = uri.split("://", 1)[1]
    return Backend(uri=f"postgresql+{driver}://{rest}", host=parts.hostname, port=port,
                   database=database, user=unquote(parts.username or ""),
                   password=unquote(parts.password) if parts.password is not None else None)


def check_backend(backend: Backend, *, timeout: float = 5.0) -> None:
    """Connect to the backend store once; ``ModelError`` saying what is wrong (unreachable,
    refused login, no such database) and where, without the password."""
    driver = backend.uri.split("://", 1)[0].split("+", 1)[1]
    if importlib.util.find_spec(driver) is None:
        if driver == "psycopg":
            raise ModelError("the PostgreSQL driver psycopg (3) named by postgresql+psycopg:// "
                             "is not installed: give postgresql:// (hub's postgres extra "
                             f"brings psycopg2: {_INSTALL}) or `pip install psycopg`")
        raise ModelError(f"the PostgreSQL driver {driver} is not installed: {_INSTALL}")
    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(backend.uri, poolclass=sqlalchemy.pool.NullPool,
                                          connect_args={"connect_timeout": int(timeout)})
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        finally:
            engine.dispose()
    except ImportError as exc:
        raise ModelError(f"the PostgreSQL driver cannot be loaded ({exc}): {_INSTALL}") from None
    except Exception as exc:
        cause = getattr(exc, "orig", None) or exc
        lines = [line.strip() for line in str(cause).strip().splitlines() if line.strip()]
        reason = "; ".join(lines[:2]) or type(cause).__name__
        if backend.password:
            reason = reason.replace(backend.password, "***")
        raise ModelError(f"the backend store ({backend.where}, user {backend.user!r}) does "
                         f"not answer: {reason}") from None


@dataclass(frozen=True)
class ServerPlan:
    """How to start the server: its command, the environment it needs on top of this one
    (the backend URL travels there, not in the command line ``ps`` shows everyone), and the
    ``HUB_MLFLOW_URI`` team members set."""

    argv: list[str]
    env: dict[str, str]
    client_uri: str
    backend: Backend

    def shown(self) -> str:
        """The command as it may be printed (no password)."""
        return (f"MLFLOW_BACKEND_STORE_URI={redact_uri(self.backend.uri)} "
                + " ".join(self.argv))


def server_argv(artifacts_destination: Path, *, host: str, port: int,
                workers: int | None = None, allowed_hosts: list[str] | None = None) -> list[str]:
    """The ``mlflow server`` command (the backend store comes from the environment,
    ``MLFLOW_BACKEND_STORE_URI``): artifacts served by the server from
    ``artifacts_destination``, so clients see ``mlflow-artifacts:`` URIs."""
    argv = [sys.executable, "-m", "mlflow", "server", "--serve-artifacts",
            "--artifacts-destination", str(artifacts_destination), "--host", host,
            "--port", str(port)]
    if workers:
        argv += ["--workers", str(workers)]
    if allowed_hosts:
        argv += ["--allowed-hosts", ",".join(allowed_hosts)]
    return argv


_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def allowed_hosts(host: str, uri: str) -> list[str] | None:
    """The Host headers the server accepts when it listens beyond loopback: mlflow's own
    defaults (loopback, private addresses) and this machine's names, as team members reach
    it (``uri``); ``None`` (mlflow's defaults) on loopback."""
    if host in _LOOPBACK:
        return None
    import socket

    from mlflow.server.security_utils import get_default_allowed_hosts

    names = {host, socket.gethostname(), socket.getfqdn(), urlsplit(uri).hostname or host}
    names -= {"", "0.0.0.0", "::"}  # noqa: S104 - not a bind, a name to leave out
    extra = [form for name in sorted(names) for form in (name, f"{name}:*")]
    return [*get_default_allowed_hosts(), *extra]


def client_uri(host: str, port: int) -> str:
    """What team members set as ``HUB_MLFLOW_URI`` (a wildcard address names this machine)."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - naming what the user chose, not binding
        import socket

        host = socket.getfqdn()
    return f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"


def prepare_server(backend_uri: str, artifacts_destination: str | os.PathLike[str], *,
                   host: str, port: int, workers: int | None = None,
                   check_timeout: float = 5.0) -> ServerPlan:
    """Check the backend store and the artifacts folder; return how to start the server.
    ``ModelError`` if anything is wrong."""
    backend = parse_backend(backend_uri)
    folder = Path(artifacts_destination).expanduser().resolve()
    if "://" in str(artifacts_destination):
        raise ModelError(f"--artifacts-destination {artifacts_destination} must be a folder "
                         "on this machine (the server serves the artifacts from there)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"artifacts folder {folder} cannot be created: {exc.strerror}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ModelError(f"artifacts folder {folder} is not writable")
    check_backend(backend, timeout=check_timeout)
    uri = client_uri(host, port)
    argv = server_argv(folder, host=host, port=port, workers=workers,
                       allowed_hosts=allowed_hosts(host, uri))
    return ServerPlan(argv, {"MLFLOW_BACKEND_STORE_URI": backend.uri}, uri, backend)
