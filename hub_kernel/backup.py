"""``hub backup`` and ``hub restore``: a consistent copy of ``HUB_HOME`` taken while servers,
streams and trainings run, and its return into an empty home.

Every SQLite file (events, audit, safety, streams, run history, scheduler, MLflow's
``mlflow.db``...) is copied with SQLite's online backup API, which reads one consistent
snapshot while writers go on; other files (the catalog's Parquet, MLflow artifacts, the
agents' JSON) are copied after the databases, so a database never names an artifact the copy
lacks. The audit log and its anchor are copied under the audit writer's lock, so they agree.
The copy is built in ``DEST.partial`` and renamed when complete, with a manifest of every
file's SHA-256 written last: a killed backup never looks finished. ``restore`` checks every
checksum before it writes anything, and moves MLflow's absolute artifact locations to the
new home.

When the MLflow store is not the embedded ``mlflow.db`` of the home (``HUB_MLFLOW_URI`` names a
team's server, or another database), the runs, models and their artifacts live there and are
NOT in the copy: the report and the manifest say so, naming the store without credentials; back
it up where it runs (``pg_dump`` of its database and a copy of its artifacts folder).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hub_kernel.core.config import get_settings
from hub_kernel.exceptions import BackupError
from hub_kernel.safety.audit import AuditLog

MANIFEST = "hub-backup.json"
_SQLITE_HEADER = b"SQLite format 3\x00"
#: SQLite's side files and hub's lock and temporary files: never copied (the backup API reads
#: what the -wal holds; a lock belongs to the processes of the old home)
_SKIP_SUFFIXES = ("-wal", "-shm", "-journal", ".lock", ".tmp", ".partial")
#: MLflow columns holding absolute artifact locations under the home
_MLFLOW_LOCATIONS = (("experiments", "artifact_location"), ("runs", "artifact_uri"),
                     ("model_versions", "source"), ("model_versions", "storage_location"),
                     ("logged_models", "artifact_location"))


@dataclass
class BackupReport:
    """What ``backup`` copied."""

    path: Path
    databases: list[str] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    #: the MLflow store when it is not in the home (its models are not in this backup)
    external_mlflow: str | None = None

    def summary(self) -> str:
        text = (f"backed up {len(self.databases)} database(s) and {self.files} other file(s), "
                f"{self.bytes / 1e6:.1f} MB, to {self.path} in {self.seconds:.1f} s")
        if self.external_mlflow:
            text += (f"; models, runs and their artifacts are NOT included: they live in the "
                     f"MLflow store {self.external_mlflow} (HUB_MLFLOW_URI), which must be "
                     "backed up where it runs (pg_dump of its database and a copy of its "
                     "artifacts folder)")
        return text


@dataclass
class RestoreReport:
    """What ``restore`` brought back, and whether the audit chain verifies there."""

    home: Path
    files: int
    audit: str | None  # the audit verification's summary, None without an audit log
    external_mlflow: str | None = None  # the MLflow store the backup did not hold

    def summary(self) -> str:
        audit = f"; audit log: {self.audit}" if self.audit else ""
        mlflow = (f"; models were in the MLflow store {self.external_mlflow}, not in this "
                  "backup: set HUB_MLFLOW_URI to it again") if self.external_mlflow else ""
        return f"restored {self.files} file(s) into {self.home}{audit}{mlflow}"


def backup(dest: str | os.PathLike[str], *, home: str | os.PathLike[str] | None = None
           ) -> BackupReport:
    """Copy ``home`` (default ``HUB_HOME``) to the new folder ``dest``, consistently, while
    other processes keep writing. ``BackupError`` when ``dest`` exists or lies in the home."""
    source = Path(home).resolve() if home is not None else get_settings().home.resolve()
    target = Path(dest).resolve()
    if not source.is_dir():
        raise BackupError(f"nothing to back up: {source} is not a folder (HUB_HOME)")
    if target.exists():
        raise BackupError(f"{target} already exists; give a new folder for the backup")
    if target.is_relative_to(source) or source.is_relative_to(target):
        raise BackupError(f"{target} and the home {source} overlap; back up to a folder "
                          "outside HUB_HOME")
    started = time.monotonic()
    partial = target.with_name(target.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)  # what a killed earlier backup left
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.mkdir(mode=0o700)  # a copy of everything hub keeps: for its owner only
    report = BackupReport(target, external_mlflow=_external_mlflow(source))
    manifest: dict[str, dict[str, object]] = {}
    databases, files = _inventory(source)
    audit_path = source / "audit.db"
    try:
        for path in databases:
            relative = path.relative_to(source).as_posix()
            if path == audit_path:
                log = AuditLog(path)
                with log.writer_lock():  # the anchor and the log agree in the copy
                    _copy_database(path, partial / relative)
                    if log.anchor_path.exists():
                        _copy_file(log.anchor_path, partial / log.anchor_path.name)
            else:
                _copy_database(path, partial / relative)
            report.databases.append(relative)
        if (partial / "audit.db.anchor").exists():
            files = [f for f in files if f != source / "audit.db.anchor"]
            manifest["audit.db.anchor"] = _entry(partial / "audit.db.anchor", "file")
        for path in files:
            relative = path.relative_to(source).as_posix()
            try:
                _copy_file(path, partial / relative)
            except FileNotFoundError:  # removed since it was listed: not part of the copy
                continue
            manifest[relative] = _entry(partial / relative, "file")
            report.files += 1
        for relative in report.databases:
            manifest[relative] = _entry(partial / relative, "sqlite")
        report.bytes = sum(int(str(e["bytes"])) for e in manifest.values())
        from hub_kernel import __version__

        (partial / MANIFEST).write_text(json.dumps(
            {"version": 1, "hub": __version__, "home": str(source),
             "mlflow_not_included": report.external_mlflow,
             "created": datetime.now(UTC).isoformat(timespec="seconds"), "files": manifest},
            indent=1), encoding="utf-8")
        os.replace(partial, target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    report.seconds = time.monotonic() - started
    return report


def restore(src: str | os.PathLike[str], *, home: str | os.PathLike[str] | None = None
            ) -> RestoreReport:
    """Bring the backup ``src`` into ``home`` (default ``HUB_HOME``), which must be empty or
    absent; every file's checksum is checked before anything is written."""
    source = Path(src).resolve()
    target = Path(home).resolve() if home is not None else get_settings().home.resolve()
    try:
        manifest = json.loads((source / MANIFEST).read_text(encoding="utf-8"))
        files: dict[str, dict[str, object]] = manifest["files"]
        old_home = str(manifest["home"])
        external = manifest.get("mlflow_not_included")
    except FileNotFoundError:
        raise BackupError(f"{source} is not a hub backup (no {MANIFEST}); give the folder "
                          "`hub backup` made") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{source / MANIFEST} cannot be read: {exc}") from exc
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target} is not empty; restore into an empty or new HUB_HOME "
                          "(move the current one away first)")
    for relative, entry in files.items():
        path = source / relative
        if ".." in Path(relative).parts or Path(relative).is_absolute():
            raise BackupError(f"{source / MANIFEST} names {relative!r}, outside the backup")
        if not path.is_file():
            raise BackupError(f"{path} is missing from the backup; nothing was restored")
        if _sha256(path) != entry.get("sha256"):
            raise BackupError(f"{path} does not match its checksum in {MANIFEST} (changed "
                              "or damaged since the backup); nothing was restored")
    partial = target.with_name(target.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.mkdir(mode=0o700)  # HUB_HOME must not be open to others
    try:
        for relative in files:
            _copy_file(source / relative, partial / relative)
        if (partial / "mlflow.db").exists() and old_home != str(target):
            _relocate_mlflow(partial / "mlflow.db", old_home, str(target))
        if target.exists():
            target.rmdir()
        os.replace(partial, target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    audit = None
    if (target / "audit.db").exists():
        result = AuditLog(target / "audit.db").verify()
        audit = (f"intact, {result.n_rows} rows, hash chain verified" if result.ok
                 else f"NOT intact: {result.reason}")
    return RestoreReport(target, len(files), audit,
                         str(external) if external else None)


def _external_mlflow(home: Path) -> str | None:
    """The MLflow store in force, without credentials, unless it is a SQLite file in ``home``
    (then the backup holds it)."""
    from urllib.parse import unquote, urlsplit

    from hub_kernel.core.redact import redact_url

    uri = get_settings().tracking_uri
    if urlsplit(uri).scheme.lower() == "sqlite" and uri.startswith("sqlite:///"):
        path = Path(unquote(uri[len("sqlite:///"):]).split("?", 1)[0])  # "/..." if absolute
        if path.resolve().is_relative_to(home):
            return None
    return redact_url(uri)


def _inventory(home: Path) -> tuple[list[Path], list[Path]]:
    """The home's SQLite databases and its other regular files (no links, no side files)."""
    databases: list[Path] = []
    files: list[Path] = []
    for folder, subfolders, names in os.walk(home):
        subfolders[:] = sorted(d for d in subfolders
                               if not (Path(folder) / d).is_symlink())
        for name in sorted(names):
            path = Path(folder) / name
            if path.is_symlink() or not path.is_file() or name.endswith(_SKIP_SUFFIXES):
                continue
            (databases if _is_sqlite(path) else files).append(path)
    return databases, files


def _is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(16) == _SQLITE_HEADER
    except OSError:
        return False


def _copy_database(path: Path, dest: Path) -> None:
    """SQLite's online backup: one consistent snapshot, writers not stopped."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        source = sqlite3.connect(path, timeout=30.0)
        try:
            source.execute("PRAGMA busy_timeout=30000")
            copy = sqlite3.connect(dest)
            try:
                source.backup(copy)
                copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
                check = copy.execute("PRAGMA quick_check").fetchone()[0]
            finally:
                copy.close()
        finally:
            source.close()
    except sqlite3.Error as exc:
        raise BackupError(f"database {path} cannot be backed up: {exc}") from exc
    if check != "ok":
        raise BackupError(f"database {path} is damaged ({check}); the backup stopped")


def _copy_file(path: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, dest)


def _entry(path: Path, kind: str) -> dict[str, object]:
    return {"sha256": _sha256(path), "bytes": path.stat().st_size, "kind": kind}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _relocate_mlflow(db_path: Path, old_home: str, new_home: str) -> None:
    """Point MLflow's artifact locations under the old home at the new one."""
    old, new = Path(old_home).as_uri() + "/", Path(new_home).as_uri() + "/"
    db = sqlite3.connect(db_path)
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        with db:
            for table, column in _MLFLOW_LOCATIONS:
                if table not in tables:
                    continue
                for prefix_old, prefix_new in ((old, new), (old_home + "/", new_home + "/")):
                    db.execute(f"UPDATE {table} SET {column} = ? || substr({column}, ?) "  # noqa: S608 - fixed names
                               f"WHERE substr({column}, 1, ?) = ?",
                               (prefix_new, len(prefix_old) + 1, len(prefix_old), prefix_old))
    except sqlite3.Error as exc:
        raise BackupError(f"MLflow's database {db_path} cannot be moved to {new_home}: "
                          f"{exc}") from exc
    finally:
        db.close()
