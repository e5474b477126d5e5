"""``hub backup`` / ``hub restore``: a copy taken while a stream, a training and audit writers
run restores into a fresh home with everything stored before it began."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time

import pytest
from typer.testing import CliRunner

from hub_kernel.backup import MANIFEST, backup, restore
from hub_kernel.exceptions import BackupError
from tests.conftest import mixed_frame


def _stream_seqs(path) -> set[int]:
    db = sqlite3.connect(path)
    try:
        return {row[0] for row in db.execute("SELECT seq FROM rows")}
    finally:
        db.close()


@pytest.mark.slow
def test_a_backup_during_a_live_stream_and_a_training_restores_what_was_stored_before_it(
        models_home, tmp_path, monkeypatch):
    from hub_kernel.cli import app
    from hub_kernel.core import config
    from hub_kernel.data import read_table, sample_path
    from hub_kernel.data.stream.server import DemoStreamServer
    from hub_kernel.data.stream.source import StreamSource
    from hub_kernel.models.trainer import ModelTrainer
    from hub_kernel.safety.audit import AuditLog

    frame = mixed_frame(200)
    trainer = ModelTrainer(cv=3, n_jobs=1)
    trainer.train_model_sync("before", frame.drop(columns=["label"]), frame["label"])
    log = AuditLog()
    stop = threading.Event()

    def audit_writer() -> None:  # decisions keep arriving while the copy is taken
        while not stop.is_set():
            log.record(agent="test", action="write", explanation="during the backup")
            time.sleep(0.005)

    def training() -> None:  # a second model is registered during the backup
        trainer.train_model_sync("during", frame.drop(columns=["label"]), frame["label"])

    server = DemoStreamServer(read_table(sample_path()), rate=2000, loop=True).start()
    source = StreamSource(server.url, "live").start()
    writers = [threading.Thread(target=audit_writer), threading.Thread(target=training)]
    try:
        deadline = time.monotonic() + 20
        while source.quality().rows_stored < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        for thread in writers:
            thread.start()
        time.sleep(0.3)
        seqs_before = _stream_seqs(source.store_path)
        audit_before = len(log.entries(limit=None))
        report = backup(tmp_path / "backup")
        time.sleep(0.2)  # the writers went on during and after the copy
    finally:
        stop.set()
        for thread in writers:
            if thread.ident is not None:
                thread.join(timeout=120)
        source.stop()
        server.stop()
    assert len(seqs_before) >= 200
    assert "audit.db" in report.databases and "mlflow.db" in report.databases
    assert (tmp_path / "backup" / MANIFEST).is_file()
    assert not (tmp_path / "backup.partial").exists()
    assert (tmp_path / "backup").stat().st_mode & 0o077 == 0  # for its owner only

    old_home = models_home
    shutil.rmtree(old_home)  # the restored home must not lean on the old one
    new_home = tmp_path / "restored"
    monkeypatch.setenv("HUB_HOME", str(new_home))
    config.reload_settings()
    restored = restore(tmp_path / "backup")
    assert restored.audit is not None and restored.audit.startswith("intact")

    restored_stream = new_home / source.store_path.relative_to(old_home)
    assert seqs_before <= _stream_seqs(restored_stream)
    entries = AuditLog().entries(limit=None)
    assert len(entries) >= audit_before
    assert AuditLog().verify().ok
    result = CliRunner().invoke(app, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "intact" in result.output
    model = ModelTrainer().load_model("before")  # artifacts moved to the new home
    assert len(model.predict(frame.drop(columns=["label"]).head(5))) == 5


def test_restore_refuses_a_home_in_use_and_a_damaged_backup_writing_nothing(
        hub_home, tmp_path, monkeypatch):
    from hub_kernel.core import config
    from hub_kernel.safety.audit import AuditLog

    AuditLog().record(agent="test", action="one", explanation="a row")
    (hub_home / "notes.json").write_text('{"a": 1}')
    backup(tmp_path / "copy")
    with pytest.raises(BackupError, match="already exists"):
        backup(tmp_path / "copy")
    with pytest.raises(BackupError, match="overlap"):
        backup(hub_home / "inside")
    with pytest.raises(BackupError, match="not empty"):
        restore(tmp_path / "copy")  # the live home still holds its files
    assert json.loads((hub_home / "notes.json").read_text()) == {"a": 1}

    (tmp_path / "copy" / "notes.json").write_text('{"a": 2}')
    fresh = tmp_path / "fresh"
    monkeypatch.setenv("HUB_HOME", str(fresh))
    config.reload_settings()
    with pytest.raises(BackupError, match=r"notes\.json does not match its checksum"):
        restore(tmp_path / "copy")
    assert not fresh.exists()
    with pytest.raises(BackupError, match="not a hub backup"):
        restore(tmp_path)


def test_the_cli_backs_up_and_restores(hub_home, tmp_path, monkeypatch):
    from hub_kernel.cli import app
    from hub_kernel.core import config
    from hub_kernel.safety.audit import AuditLog

    AuditLog().record(agent="test", action="one", explanation="a row")
    runner = CliRunner()
    result = runner.invoke(app, ["backup", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert "backed up 1 database(s)" in result.output
    monkeypatch.setenv("HUB_HOME", str(tmp_path / "h2"))
    config.reload_settings()
    result = runner.invoke(app, ["restore", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert "audit log: intact, 1 rows" in result.output
    result = runner.invoke(app, ["restore", str(tmp_path / "b")])
    assert result.exit_code == 1 and "is not empty" in result.output


def test_a_backup_says_the_models_on_a_shared_server_are_not_in_it(hub_home, tmp_path,
                                                                    monkeypatch):
    from hub_kernel.cli import app
    from hub_kernel.core import config
    from hub_kernel.safety.audit import AuditLog

    AuditLog().record(agent="test", action="one", explanation="a row")
    runner = CliRunner()
    result = runner.invoke(app, ["backup", str(tmp_path / "local")])
    assert result.exit_code == 0 and "NOT included" not in result.output  # embedded: all in
    monkeypatch.setenv("HUB_MLFLOW_URI", "http://ana:Hidden-Pw-42@mlflow.team:5000")
    config.reload_settings()
    result = runner.invoke(app, ["backup", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "models, runs and their artifacts are NOT included" in out
    assert "mlflow.team:5000" in out and "Hidden-Pw-42" not in out
    manifest = json.loads((tmp_path / "b" / "hub-backup.json").read_text())
    assert manifest["mlflow_not_included"] == "http://***@mlflow.team:5000"
    monkeypatch.setenv("HUB_HOME", str(tmp_path / "h2"))
    config.reload_settings()
    result = runner.invoke(app, ["restore", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "models were in the MLflow store http://***@mlflow.team:5000" in out
