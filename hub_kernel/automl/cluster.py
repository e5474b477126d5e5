"""The Dask cluster a pipeline search evaluates on: ``PipelineSearch(cluster=...)``, else the
``HUB_DASK_ADDRESS`` setting, else none (the search runs in its own process and Dask is not
even imported).

Addresses: ``tcp://host:port`` (or any address ``distributed.Client`` takes) for a running
scheduler; ``local`` or ``local:N`` for a ``distributed.LocalCluster`` of N single-threaded
worker processes (default: one per core) started for the search and closed when it ends;
``none`` for the search's own process (to override the setting). A LocalCluster started here
marks a task lost with its worker at the first death (``allowed-failures`` 0), so a worker
killed mid-evaluation costs that evaluation only; a scheduler of your own re-runs such a task
elsewhere unless it is started with ``distributed.scheduler.allowed-failures: 0``.
"""

from __future__ import annotations

import logging
import os
import re
import statistics
from dataclasses import dataclass, field
from typing import Any

from hub_kernel.exceptions import ClusterError

logger = logging.getLogger("hub_kernel")

INSTALL = "pip install 'hub[dask]'"
#: seconds to reach a scheduler before giving up
CONNECT_TIMEOUT = 5.0
_LOCAL = re.compile(r"local(?:\[|:)?(\d*)\]?", re.IGNORECASE)


def cluster_address(cluster: str | None) -> str | None:
    """The address a search uses: ``cluster``, else ``HUB_DASK_ADDRESS``; None for in-process
    (no address, an empty one, or ``none``)."""
    if cluster is None:
        from hub_kernel.core.config import get_settings

        cluster = get_settings().dask_address
    address = (cluster or "").strip()
    return None if not address or address.lower() in ("none", "in-process") else address


def _warm_up() -> int:
    """Run on each worker before the clock starts: the imports of an evaluation (so that the
    first one's time is its own); returns the worker's process id."""
    import sklearn.ensemble
    import sklearn.feature_selection
    import sklearn.linear_model
    import sklearn.metrics
    import sklearn.neighbors
    import sklearn.svm  # noqa: F401

    import hub_kernel.automl.evaluation
    import hub_kernel.models.features  # noqa: F401

    return os.getpid()


@dataclass
class Cluster:
    """A connection to the Dask cluster of one search (and the LocalCluster it started)."""

    asked: str  # the address as given
    client: Any
    local: Any = None  # the LocalCluster started for the search, closed with it
    pids: dict[str, int] = field(default_factory=dict)  # worker address -> process id
    lost: int = 0  # evaluations lost with their worker
    cut: int = 0  # evaluations cancelled at the deadline or on a stop
    transit: list[float] = field(default_factory=list)  # submit->result minus the work
    turnaround: list[float] = field(default_factory=list)  # result -> next submission

    @property
    def address(self) -> str:
        return str(self.client.scheduler.address)

    def threads(self) -> int:
        """Worker threads now (evaluations that can run at once)."""
        try:
            return int(sum(self.client.nthreads().values()))
        except Exception as exc:  # the scheduler went away: nothing runs any more
            logger.warning("could not ask the Dask scheduler for its workers: %s", exc)
            return 0

    def describe(self) -> dict[str, Any]:
        """The scheduler's address, the workers and their threads, e.g. for a progress line."""
        return {"address": self.address, "asked": self.asked, "workers": len(self.pids),
                "threads": self.threads(), "pids": dict(self.pids),
                "local": self.local is not None}

    def summary(self) -> dict[str, Any]:
        """What the search's result says of the cluster (``SearchResult.cluster``)."""
        return {**{k: v for k, v in self.describe().items() if k != "pids"},
                "lost": self.lost, "cut": self.cut,
                "overhead_seconds": statistics.median(self.transit) if self.transit else None,
                "turnaround_seconds": (statistics.median(self.turnaround) if self.turnaround
                                       else None)}

    def close(self) -> None:
        """Close the client, and the LocalCluster when the search started one."""
        for part in (self.client, self.local):
            if part is None:
                continue
            try:
                part.close()
            except Exception as exc:  # closing must not hide the search's result
                logger.warning("could not close the Dask %s: %s", type(part).__name__, exc)


def _local_cluster(address: str) -> Any:
    import dask
    from distributed import LocalCluster

    n = local_workers(address) or 0
    if n < 1:
        raise ClusterError(f"Dask address {address!r}: a local cluster needs at least one "
                           "worker (local:N with N >= 1)")
    # a worker that dies mid-evaluation costs that evaluation, not a re-run elsewhere
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        return LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                            host="127.0.0.1", scheduler_port=0, dashboard_address=None,
                            silence_logs=logging.ERROR)


def local_workers(address: str) -> int | None:
    """The workers of a ``local[:N]`` address (None: not a local one)."""
    match = _LOCAL.fullmatch(address.strip())
    if match is None:
        return None
    return int(match.group(1)) if match.group(1) else (os.cpu_count() or 1)


def probe_cluster(cluster: str | None) -> str | None:
    """Check before any work that the search's cluster (``cluster``, else HUB_DASK_ADDRESS)
    can be used: Dask installed, a running scheduler reachable and with workers. Returns it
    in words for a progress line ("a local Dask cluster of 2 workers"), None for in-process;
    ``ClusterError`` naming the address otherwise."""
    address = cluster_address(cluster)
    if address is None:
        return None
    try:
        from distributed import Client
    except ImportError as exc:
        raise ClusterError(f"the search was asked to run on the Dask cluster {address!r} but "
                           f"Dask is not installed ({exc}); {INSTALL}") from exc
    workers = local_workers(address)
    if workers is not None:
        if workers < 1:
            raise ClusterError(f"Dask address {address!r}: a local cluster needs at least one "
                               "worker (local:N with N >= 1)")
        return f"a local Dask cluster of {workers} worker{'s' if workers != 1 else ''}"
    try:
        with Client(address, timeout=CONNECT_TIMEOUT) as client:
            count = len(client.nthreads())
    except Exception as exc:
        raise ClusterError(_unreachable(address, exc)) from exc
    if not count:
        raise ClusterError(f"the Dask scheduler at {address!r} has no workers; start some "
                           "(`dask worker ADDRESS`) or use local[:N]")
    return f"the Dask cluster at {address} ({count} worker{'s' if count != 1 else ''})"


def _unreachable(address: str, exc: BaseException, local: bool = False) -> str:
    what = "start a local Dask cluster" if local else "reach the Dask scheduler"
    return (f"could not {what} at {address!r} ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:300]}); check HUB_DASK_ADDRESS or --cluster "
            "(tcp://host:port of a running scheduler, or local[:N])")


def open_cluster(address: str | None) -> Cluster | None:
    """Connect to (or start) the cluster at ``address``; None for in-process. A missing
    ``distributed`` package or an address that cannot be reached raises ``ClusterError``."""
    if address is None:
        return None
    try:
        from distributed import Client
    except ImportError as exc:
        raise ClusterError(f"the search was asked to run on the Dask cluster {address!r} but "
                           f"Dask is not installed ({exc}); {INSTALL}") from exc
    local_match = local_workers(address)
    local = None
    try:
        if local_match is not None:
            local = _local_cluster(address)
            client = Client(local, timeout=CONNECT_TIMEOUT)
        else:
            client = Client(address, timeout=CONNECT_TIMEOUT)
    except ClusterError:
        raise
    except Exception as exc:
        if local is not None:
            local.close()
        raise ClusterError(_unreachable(address, exc, local_match is not None)) from exc
    cluster = Cluster(address, client, local)
    try:
        cluster.pids = {str(k): int(v) for k, v in client.run(_warm_up).items()}
    except Exception as exc:
        cluster.close()
        raise ClusterError(f"the Dask workers at {address!r} cannot run hub's evaluations "
                           f"({type(exc).__name__}: {exc}); install hub on every worker "
                           f"({INSTALL})") from exc
    if not cluster.pids:
        cluster.close()
        raise ClusterError(f"the Dask scheduler at {address!r} has no workers; start some "
                           "(`dask worker ADDRESS`) or use local[:N]")
    logger.info("strategy search on the Dask cluster %s (%d workers)", cluster.address,
                len(cluster.pids))
    return cluster
