"""A team's shared MLflow: a real PostgreSQL backend store and a real ``mlflow server`` serving
the artifacts (``HUB_MLFLOW_URI=http://...``). The whole model lifecycle works there as on the
embedded store, and several processes write the same model at once without losing or
duplicating a version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub_kernel.data import load_dataset
from hub_kernel.models.registry import ModelRegistry

pytestmark = pytest.mark.slow
runner = CliRunner()
WORKER = Path(__file__).with_name("register_worker.py")
ROOT = Path(__file__).resolve().parents[3]


def hub(*args: str, code: int = 0) -> str:
    from hub_kernel.cli import app

    result = runner.invoke(app, list(args))
    print(f"$ hub {' '.join(args)}\n{result.output}")
    assert result.exit_code == code, result.output
    return result.output


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"  # one server serves every test of the session


@pytest.fixture
def batches(tmp_path):
    sample = load_dataset().drop(columns=["date"])
    early, late = sample.iloc[:730], sample.iloc[730:]
    paths = {}
    for label, frame in {
        "first": early,
        "resample": early.sample(frac=1.0, replace=True, random_state=1),
        "holdout": late.sample(n=300, random_state=2),
        "shifted": late.assign(temp_max=late.temp_max + 8, temp_min=late.temp_min + 8,
                               weather=late.weather.replace({"rain": "sun"})),
    }.items():
        folder = tmp_path / label
        folder.mkdir()
        frame.to_csv(folder / "weather.csv", index=False)
        paths[label] = str(folder / "weather.csv")
    return paths


def test_the_whole_lifecycle_runs_on_a_shared_server(server_home, mlflow_server, batches,
                                                    monkeypatch):
    from hub_kernel.core.config import get_settings

    assert get_settings().tracking_uri == mlflow_server["url"]
    name = unique("weather")
    out = hub("train", batches["first"], "--target", "temp_max", "--name", name, "--cv", "3")
    assert "version 1" in out and "champion" in out
    assert name in hub("models", "list")
    assert "r2" in hub("models", "show", name)
    hub("train", batches["resample"], "--target", "temp_max", "--name", name, "--cv", "3")
    assert "has not passed the A/B gate" in hub("models", "promote", name, "2", code=1)
    hub("models", "ab", name, batches["holdout"], "--mode", "assisted")
    registry = ModelRegistry()
    tags = registry.get_model_info(name).version(2).tags
    assert tags["hub.ab_champion"] == "1" and tags["hub.ab_decision"] in ("promote", "hold")
    hub("models", "promote", name, "2", "--override", "--reason", "analyst review")
    assert registry.get_model_info(name).champion == 2
    hub("models", "rollback", name)
    assert registry.get_model_info(name).champion == 1

    # drift -> challenger -> A/B gate -> promoted, all on the server
    hub("ingest", batches["shifted"])
    out = hub("models", "retrain", "--mode", "supervised", "--name", name)
    assert "trained" in out and "promoted version 3" in out
    info = registry.get_model_info(name)
    assert info.champion == 3 and info.version(3).tags["hub.promoted_by"] == "ab_gate"

    # the artifacts went through the server (mlflow-artifacts:), nothing was stored locally
    assert info.version(3).source.startswith("models:/")
    location = registry.client.get_run(info.version(3).run_id).info.artifact_uri
    assert location.startswith("mlflow-artifacts:"), location
    stored = list(mlflow_server["artifacts"].rglob("model.skops"))
    assert len(stored) >= 3
    assert not (server_home / "mlflow.db").exists()
    assert not (server_home / "mlartifacts").exists()

    # loaded back through the server, with its SHA-256 checked, and predicting
    import pandas as pd

    rows = pd.read_csv(batches["holdout"]).drop(columns=["temp_max"]).head(5)
    predictions = registry.load_model(name).predict(rows)
    assert len(predictions) == 5 and all(-30 < p < 60 for p in predictions)

    # the audit log has every decision and verifies
    from hub_kernel.safety.audit import AuditLog

    actions = [(e.agent, e.action) for e in AuditLog().entries()]
    assert ("ab_gate", f"promoted {name} v3") in actions
    assert any(a == "person" and x.startswith(f"rollback {name}") for a, x in actions)
    assert "hash chain verified" in hub("audit", "verify")

    # a colleague: another HUB_HOME (own catalog and audit log), the same server
    from hub_kernel.core import config

    colleague = server_home.parent / "colleague-home"
    monkeypatch.setenv("HUB_HOME", str(colleague))
    config.reload_settings()
    assert name in hub("models", "list")
    assert ModelRegistry().load_model(name).predict(rows).tolist() == predictions.tolist()
    out = hub("models", "retrain", "--mode", "supervised", "--name", name)
    assert "skipped" in out and "not in this catalog" in out

    hub("models", "delete", name)
    assert name not in hub("models", "list")


def people(n: int, seed: int, *, unfair: bool):
    """Loan applications: ``approved`` depends on ``x``, and on ``sex`` when ``unfair``."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], size=n)
    x = rng.normal(size=n)
    bias = np.where(sex == "M", 1.25, -1.25) if unfair else 0.0
    score = x + bias + rng.normal(scale=0.3, size=n)
    return pd.DataFrame({"x": x, "sex": sex, "approved": np.where(score > 0, "yes", "no")})


def test_fairness_gate_and_artifact_checks_on_a_shared_server(server_home, mlflow_server):
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression

    from hub_kernel.exceptions import ModelError, RegistryStateError
    from hub_kernel.models import ModelTrainer
    from hub_kernel.models.lifecycle.gate import run_gate

    name = unique("loans")
    trainer = ModelTrainer(cv=3, n_jobs=1)
    first = trainer.train_model_sync(name, people(300, 0, unfair=False), "approved",
                                     estimator=DummyClassifier(), sensitive=["sex"])
    assert first.alias == "champion" and first.fairness_decision == "pass"
    unfair = trainer.train_model_sync(name, people(300, 1, unfair=True), "approved",
                                      estimator=LogisticRegression())
    assert unfair.sensitive == ("sex",) and unfair.fairness_decision == "fail"
    registry = trainer.registry
    holdout = people(300, 2, unfair=True)
    outcome = run_gate(registry, name, holdout.drop(columns="approved"), holdout["approved"],
                       mode="supervised")
    assert outcome.ab.decision == "promote" and outcome.action == "held"
    with pytest.raises(RegistryStateError, match="failed its fairness check"):
        registry.promote(name, unfair.version)
    assert registry.get_model_info(name).champion == first.version

    # the file on the server's artifact store changed after registration: refused
    tags = registry.get_model_info(name).version(first.version).tags
    files = [p for p in mlflow_server["artifacts"].rglob("model.skops")
             if p.stat().st_size and tags["hub.artifact_sha256"] == _sha(p)]
    assert len(files) == 1
    data = bytearray(files[0].read_bytes())
    files[0].write_bytes(bytes(data) + b"\0")
    try:
        with pytest.raises(ModelError, match="does not match the SHA-256"):
            registry.load_model(name, version=first.version)
    finally:
        files[0].write_bytes(bytes(data))
    assert registry.load_model(name, version=first.version) is not None


def _sha(path: Path) -> str:
    from hub_kernel.models.artifact import sha256_of

    return sha256_of(path)


def register_at_once(name: str, count: int, folder: Path) -> list[dict[str, list]]:
    """Two real processes (register_worker.py) registering at the same moment."""
    import time

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    start = folder / "go"
    ready = [folder / f"ready-{i}" for i in range(2)]
    workers = [subprocess.Popen([sys.executable, str(WORKER), name, str(count), str(start),
                                 str(ready[i])], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env) for i in range(2)]
    deadline = time.monotonic() + 120
    while not all(r.exists() for r in ready) and time.monotonic() < deadline:
        assert all(w.poll() is None for w in workers), workers[0].communicate()[1][-3000:]
        time.sleep(0.05)
    start.touch()
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def check_no_version_lost_or_duplicated(results: list[dict[str, list]], name: str,
                                        count: int) -> None:
    registry = ModelRegistry()
    # one model written by both: every number 1..2N exactly once, the newest is challenger
    numbers = sorted(n for result in results for n, _ in result[name])
    assert numbers == list(range(1, 2 * count + 1)), numbers
    info = registry.get_model_info(name)
    assert [v.version for v in info.versions] == numbers
    assert info.challenger == 2 * count
    # N models each created by both at once: exactly one first version became champion
    for i in range(count):
        model = f"{name}-{i}"
        got = sorted(tuple(pair) for result in results for pair in result[model])
        assert [n for n, _ in got] == [1, 2], got
        champions = [n for n, alias in got if alias == "champion"]
        assert len(champions) == 1, f"{model}: both registrations were told champion: {got}"
        info = registry.get_model_info(model)
        assert info.champion == champions[0] and info.challenger == 3 - champions[0], got
    # the registry's locks are hidden: only the real models are listed
    listed = [m.name for m in registry.list_models()]
    assert not [m for m in listed if m.startswith("__hub_lock__")]


def test_two_processes_register_versions_of_one_model_at_once(server_home, tmp_path):
    """On the server: version numbers come from its database, one at a time; aliases move
    under the ticket lock (models.locking)."""
    name, count = unique("race"), 6
    check_no_version_lost_or_duplicated(register_at_once(name, count, tmp_path), name, count)


def test_two_processes_register_at_once_on_the_embedded_store(models_home, tmp_path):
    """The embedded SQLite store: the same guarantees (aliases under a file lock)."""
    name, count = unique("race"), 4
    check_no_version_lost_or_duplicated(register_at_once(name, count, tmp_path), name, count)


_PROMOTE = """
import sys, time
from pathlib import Path
from hub_kernel.models.registry import ModelRegistry

name, version, start = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
registry = ModelRegistry()
registry.get_model_info(name)
Path(sys.argv[4]).touch()
while not start.exists():
    time.sleep(0.002)
registry.promote(name, version, override=True, reason=f"process promoting v{version}")
print("promoted")
"""


def test_two_promotions_at_once_from_two_processes_both_count(server_home, tmp_path):
    """Promotions from two machines never interleave: the second sees the first's champion,
    so the history keeps both and two rollbacks walk back through them."""
    registry = ModelRegistry()
    name = unique("promo")
    client = registry.client
    run = client.create_run(registry.store.experiment_id, run_name=name)
    for _ in range(3):
        registry.register_version(name, source=f"{run.info.artifact_uri}/model",
                                  run_id=run.info.run_id, model_id=None, tags={})
    assert registry.get_model_info(name).champion == 1
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    start = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", _PROMOTE, name, str(v), str(start),
                               str(tmp_path / f"ready{v}")], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for v in (2, 3)]
    import time

    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready{v}").exists() for v in (2, 3)):
        for proc in procs:
            if proc.poll() is not None:
                pytest.fail(proc.communicate()[1][-3000:])
        assert time.monotonic() < deadline
        time.sleep(0.05)
    start.touch()
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0 and "promoted" in out, err[-3000:]
    info = registry.get_model_info(name)
    assert info.champion in (2, 3)
    first = 5 - info.champion
    assert list(info.champion_history) == [1, first]  # neither promotion was lost
    assert registry.rollback(name).champion == first
    assert registry.rollback(name).champion == 1
