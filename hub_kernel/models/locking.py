"""One writer at a time for a registered model's read-decide-write steps, across processes and
machines: setting ``champion``/``challenger`` after a registration, ``promote``, ``rollback``,
the champion history and the sensitive-attribute declaration.

A thread lock is not enough once several processes (a notebook, the scheduler, the CLI, a
colleague's machine) share one registry, and MLflow's REST API has no compare-and-set on an
alias. ``model_lock`` therefore takes a lock the store itself arbitrates:

- an embedded SQLite store: an exclusive ``flock`` on ``mlflow.db.registry.lock`` beside the
  database (one machine; the OS releases it when the holder dies);
- an MLflow server (``HUB_MLFLOW_URI=http://...``): a ticket lock made of model versions. Each
  contender registers a version (a "ticket") of the hidden model ``__hub_lock__.<name>``; the
  server allocates version numbers one at a time in its database (the same allocation that
  keeps the versions of real models unique), so tickets are totally ordered. The lowest live
  ticket holds the lock; the holder deletes its ticket to release it. A ticket whose process is
  gone (same host: ``core.process.alive``) or whose lease (``LEASE_SECONDS``) ran out is deleted
  by the next waiter, so a crashed holder blocks others for at most the lease. Deleted versions
  keep their number (MLflow deletes them softly), so a ticket number is never reused. Each
  ticket carries a token: if the MLflow client resent the request (it retries when an answer
  is lost), the extra ticket is found by its token and deleted at once.

hub's own names cannot start with ``_`` (``registry.check_name``), so ``__hub_lock__.*`` never
collides with a user's model; hub hides them from its listings.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

from hub_kernel.core.process import alive
from hub_kernel.exceptions import ModelError
from hub_kernel.models.tracking import file_lock, process_marker, sqlite_file

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from hub_kernel.models.tracking import TrackingStore

logger = logging.getLogger("hub_kernel")

#: prefix of the hidden registered models that hold the tickets of the server lock
LOCK_PREFIX = "__hub_lock__."
#: a ticket older than this is taken as abandoned (its holder paused or unreachable)
LEASE_SECONDS = 120.0
#: how long ``model_lock`` waits for another holder before a ``ModelError``
WAIT_SECONDS = 180.0
_LOCK_EXPERIMENT = "hub-locks"
_LEASE_TAG = "hub.lease_until"
_TICKET_TAG = "hub.ticket"
_held = threading.local()  # the locks this thread holds: a nested request passes through
_runs: dict[tuple[str, str], str] = {}  # (store, lock model) -> the run its tickets point at


def is_lock_model(name: str) -> bool:
    """Whether ``name`` is one of the hidden models of ``model_lock``."""
    return name.startswith(LOCK_PREFIX)


@contextlib.contextmanager
def model_lock(store: TrackingStore, name: str, *, wait: float | None = None
               ) -> Iterator[None]:
    """Hold the registry lock of model ``name`` for the block (see the module docstring).
    Re-entrant within a thread; ``ModelError`` after ``wait`` seconds (``WAIT_SECONDS``)."""
    key = (store.tracking_uri, name)
    held: set[tuple[str, str]] = _held.__dict__.setdefault("keys", set())
    if key in held:
        yield
        return
    wait = WAIT_SECONDS if wait is None else wait
    path = sqlite_file(store.tracking_uri)
    lock = (_file_lock(path.with_name(path.name + ".registry.lock"), name, wait)
            if path is not None else _ticket_lock(store, name, wait))
    with lock:
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)


def _file_lock(lock_path: os.PathLike[str], name: str,
               wait: float) -> contextlib.AbstractContextManager[None]:
    return file_lock(
        lock_path, wait, what="the registry lock", poll=0.02,
        busy=f"another process has held the registry lock of model {name!r} for more than "
             f"{wait:.0f} s ({lock_path}); try again")


def _lock_run(client: MlflowClient, lock_name: str, experiment_id: str) -> str:
    """The run the tickets of ``lock_name`` point at (a server accepts a version's source only
    inside a run's artifacts): recorded on the hidden model, made once."""
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(lock_name)
    except MlflowException:
        with contextlib.suppress(MlflowException):  # created meanwhile by another process
            client.create_registered_model(
                lock_name, tags={"hub.kind": "lock"},
                description="hub's registry lock (tickets); not a model. Safe to ignore.")
        model = client.get_registered_model(lock_name)
    run_id = (model.tags or {}).get("hub.lock_run")
    if run_id:
        return run_id
    run = client.create_run(experiment_id, run_name=lock_name, tags={"hub.kind": "lock"})
    client.set_terminated(run.info.run_id)
    # two processes setting a new tag at once: MLflow's store inserts it twice and one fails
    # (a unique violation on PostgreSQL); the other's run is recorded, this one stays valid
    with contextlib.suppress(MlflowException):
        client.set_registered_model_tag(lock_name, "hub.lock_run", run.info.run_id)
    return str(run.info.run_id)


def _stale(ticket: ModelVersion, now: float) -> bool:
    tags = ticket.tags or {}
    try:
        lease = float(tags.get(_LEASE_TAG, "0"))
    except ValueError:
        lease = 0.0
    if now > lease:
        return True
    pid = tags.get("hub.pid", "")
    if tags.get("hub.host") == socket.gethostname() and pid.isdigit():
        return not alive(int(pid), tags.get("hub.pid_started") or None)
    return False


@contextlib.contextmanager
def _ticket_lock(store: TrackingStore, name: str, wait: float) -> Iterator[None]:
    from mlflow.exceptions import MlflowException

    from hub_kernel.models.tracking import ensure_experiment

    client = store.client
    lock_name = LOCK_PREFIX + name
    run_id = _runs.get((store.tracking_uri, lock_name))
    if run_id is None:
        experiment = ensure_experiment(client, _LOCK_EXPERIMENT, tracking_uri=store.tracking_uri,
                                       artifacts_dir=store.artifacts_dir,
                                       tags={"hub.kind": "lock"})
        run_id = _runs[(store.tracking_uri, lock_name)] = _lock_run(client, lock_name,
                                                                    experiment)
    token = uuid.uuid4().hex
    tags = {**process_marker(), _LEASE_TAG: f"{time.time() + LEASE_SECONDS:.3f}",
            _TICKET_TAG: token}
    failure: Exception | None = None
    try:
        client.create_model_version(lock_name, f"runs:/{run_id}/lock", run_id=run_id,
                                    tags=tags, await_creation_for=0)
    except Exception as exc:  # its answer may be lost while the ticket exists
        failure = exc
    # the client resends a request whose answer it lost: keep one ticket, the lowest
    mine = sorted(int(v.version) for v in client.search_model_versions(
        f"name = '{lock_name}' and tags.`{_TICKET_TAG}` = '{token}'"))
    if not mine:
        raise ModelError(f"the registry lock of model {name!r} could not be taken at "
                         f"{store.shown_uri}: {failure or 'the request was not recorded'}"
                         ) from failure
    ticket = mine[0]
    for extra in mine[1:]:
        with contextlib.suppress(MlflowException):
            client.delete_model_version(lock_name, str(extra))
    try:
        deadline = time.monotonic() + wait
        pause = 0.02
        while True:
            live = client.search_model_versions(f"name = '{lock_name}'", max_results=1000)
            ahead = [v for v in live if int(v.version) < ticket]
            if not ahead:
                break
            now = time.time()
            for other in ahead:
                if _stale(other, now):
                    logger.warning("removing the abandoned registry lock ticket %s of %s "
                                   "(process %s on %s)", other.version, name,
                                   (other.tags or {}).get("hub.pid"),
                                   (other.tags or {}).get("hub.host"))
                    with contextlib.suppress(MlflowException):  # removed by another waiter
                        client.delete_model_version(lock_name, other.version)
            if time.monotonic() > deadline:
                holder = min(ahead, key=lambda v: int(v.version)).tags or {}
                raise ModelError(
                    f"the registry lock of model {name!r} has been held for more than "
                    f"{wait:.0f} s by process {holder.get('hub.pid', '?')} on "
                    f"{holder.get('hub.host', '?')}; try again (an abandoned lock is freed "
                    f"after {LEASE_SECONDS:.0f} s)")
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
        yield
    finally:
        try:
            client.delete_model_version(lock_name, str(ticket))
        except Exception as exc:  # freed by the lease if this fails
            logger.warning("could not release the registry lock of %s (ticket %s): %s; it "
                           "frees itself within %.0f s", name, ticket, exc, LEASE_SECONDS)
