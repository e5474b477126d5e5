"""The strategy search on Dask: real LocalClusters of worker processes (no stand-ins). It
evaluates on the workers within its budget, keeps choosing while evaluations run in parallel,
stops on request, survives a worker killed mid-evaluation, and without an address never
touches Dask; a bad address is a clear error."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from hub_kernel.automl.search import PipelineSearch
from hub_kernel.exceptions import ClusterError

BUDGET_TOLERANCE = 2.0  # seconds past the budget a loaded machine may take (final refit)


@pytest.fixture(scope="module")
def dask_cluster():
    """Two single-threaded worker processes on 127.0.0.1, free ports, that have imported what
    an evaluation needs (as a running cluster has after its first search: on a loaded machine
    fresh workers take seconds to import scikit-learn); closed after."""
    from distributed import Client, LocalCluster

    from hub_kernel.automl.cluster import _warm_up

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           host="127.0.0.1", scheduler_port=0, dashboard_address=None)
    client = Client(cluster)
    client.run(_warm_up)
    try:
        yield cluster, client
    finally:
        client.close()
        cluster.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _overlap(evaluations) -> bool:
    spans = sorted((e.finished_at - e.seconds, e.finished_at) for e in evaluations)
    return any(b[0] < a[1] for a, b in itertools.pairwise(spans))


@pytest.mark.slow
def test_the_search_runs_on_the_workers_within_its_budget(dask_cluster, radial, audit):
    cluster, client = dask_cluster
    X, y = radial(1, n=300)
    pids = {str(k): v for k, v in client.run(os.getpid).items()}
    seen: list[bool] = []

    def check(evaluation, search):
        model = search.best_model_  # the anytime best, updated as results arrive
        seen.append(model is not None and model.predict(X.head(4)).shape == (4,))

    search = PipelineSearch(budget=4, warm_start=False, audit=audit, callback=check,
                            cluster=cluster.scheduler_address)
    started = time.monotonic()
    result = search.fit(X, y)
    wall = time.monotonic() - started
    assert wall <= 4 + BUDGET_TOLERANCE + 2.0  # + reaching the cluster
    assert result.seconds <= 4 + BUDGET_TOLERANCE, (
        result.stop_reason, result.refit, [(e.config.label(), e.finished_at, e.seconds)
                                           for e in result.evaluations])
    assert len(result.evaluations) >= 3 and seen and all(seen)
    # every evaluation ran in a worker process, and both workers were used
    workers = {e.worker for e in result.evaluations}
    assert workers <= set(pids) and len(workers) == 2
    assert os.getpid() not in {pids[w] for w in workers}
    assert _overlap(result.evaluations)  # evaluations ran at the same time
    assert result.cluster is not None and result.cluster["workers"] == 2
    assert result.cluster["lost"] == 0 and result.cluster["overhead_seconds"] is not None
    assert result.best.score == max(e.score for e in result.evaluations)
    assert result.best.score > result.baseline_score
    assert result.predict(X.head(3)).shape == (3,)
    # every evaluation is in the audit log, from this process, naming its worker
    evaluated = [e for e in audit.entries(agent="strategy") if e.action.startswith("evaluate:")]
    assert len(evaluated) == len(result.evaluations)
    assert all("evaluated on the Dask worker tcp://127.0.0.1:" in e.explanation
               for e in evaluated)
    assert search.cluster_["pids"] == pids


@pytest.mark.slow
def test_the_setting_sends_the_search_to_dask_and_stop_ends_it(dask_cluster, radial,
                                                               monkeypatch):
    from hub_kernel.core import config

    cluster, _client = dask_cluster
    monkeypatch.setenv("HUB_DASK_ADDRESS", cluster.scheduler_address)
    config.reload_settings()
    try:
        X, y = radial(2, n=300)
        search = PipelineSearch(budget=60, warm_start=False)
        future = search.fit_in_background(X, y)
        deadline = time.monotonic() + 30
        while search.best_model_ is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert search.best_model_ is not None
        asked = time.monotonic()
        search.stop()
        result = future.result(timeout=30)
        assert time.monotonic() - asked < 5  # what was under way was cancelled, not awaited
        assert result.stop_reason == "stopped on request"
        assert result.seconds < 30
        assert result.cluster is not None and result.cluster["address"] == \
            cluster.scheduler_address
    finally:
        monkeypatch.undo()
        config.reload_settings()


@pytest.mark.slow
def test_a_worker_killed_mid_evaluation_costs_that_evaluation_only(radial, audit):
    """The search's own LocalCluster (local:2); a worker process is killed with SIGKILL while it
    evaluates a configuration."""
    from distributed import Client

    X, y = radial(3, n=1500)
    search = PipelineSearch(budget=14, warm_start=False, audit=audit, families=["rf", "et"],
                            cluster="local:2")
    killed: dict[str, object] = {}

    def killer() -> None:
        deadline = time.monotonic() + 60
        while search.cluster_ is None and time.monotonic() < deadline:
            time.sleep(0.05)
        info = search.cluster_
        if info is None:
            return
        with Client(info["address"], timeout=10) as client:
            busy_since: dict[str, float] = {}
            while time.monotonic() < deadline:
                for worker, keys in client.processing().items():
                    if not keys:
                        busy_since.pop(worker, None)
                        continue
                    since = busy_since.setdefault(worker, time.monotonic())
                    if time.monotonic() - since > 0.3 and worker in info["pids"]:
                        os.kill(info["pids"][worker], signal.SIGKILL)
                        killed.update(worker=worker, at=time.monotonic())
                        return
                time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    started = time.monotonic()
    result = search.fit(X, y)
    thread.join(5)
    assert killed, "no worker was busy long enough to be killed"
    assert result.cluster is not None and result.cluster["lost"] == 1
    entries = audit.entries(agent="strategy")
    lost = [e for e in entries if e.action.startswith("lost:")]
    assert len(lost) == 1 and "the Dask worker evaluating it died" in lost[0].explanation
    # the search went on: evaluations finished after the loss, and it ended with a model
    assert any(e.action.startswith("evaluate:") and e.id > lost[0].id for e in entries)
    assert result.predict(X.head(3)).shape == (3,)
    assert time.monotonic() - started < 14 + 30  # its budget, plus starting two workers


def test_without_an_address_dask_is_never_imported(tmp_path):
    code = (
        "import sys\n"
        "from tests.hub_kernel.conftest import radial_data\n"
        "from hub_kernel.automl.search import PipelineSearch\n"
        "X, y = radial_data(0, n=120)\n"
        "r = PipelineSearch(budget=1.5, warm_start=False, families=['linear', 'knn'])"
        ".fit(X, y)\n"
        "assert r.cluster is None and all(e.worker is None for e in r.evaluations)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n")
    env = {k: v for k, v in os.environ.items() if k != "HUB_DASK_ADDRESS"}
    env["PYTHONPATH"] = os.pathsep.join([str(os.getcwd()), env.get("PYTHONPATH", "")])
    env["HUB_HOME"] = str(tmp_path / "home")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120, cwd=os.getcwd())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_an_unreachable_address_is_a_clear_error(radial):
    from hub_kernel.automl.cluster import probe_cluster

    address = f"tcp://127.0.0.1:{_free_port()}"
    X, y = radial(4, n=100)
    started = time.monotonic()
    with pytest.raises(ClusterError, match="reach the Dask scheduler") as caught:
        PipelineSearch(budget=2, warm_start=False, cluster=address).fit(X, y)
    assert address in str(caught.value)
    assert time.monotonic() - started < 30
    with pytest.raises(ClusterError, match=address):
        probe_cluster(address)
    with pytest.raises(ClusterError, match="at least one worker"):
        PipelineSearch(budget=2, warm_start=False, cluster="local:0").fit(X, y)
    assert probe_cluster("none") is None
    assert probe_cluster("local:3") == "a local Dask cluster of 3 workers"


def test_missing_dask_says_how_to_install_it(radial, monkeypatch):
    from hub_kernel.automl.cluster import open_cluster

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(ClusterError, match=r"pip install 'hub\[dask\]'"):
        open_cluster("local:1")
