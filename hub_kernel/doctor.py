"""Health checks behind ``hub doctor``: each check says ok, warn or fail, and what to do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Literal

from hub_kernel.core.config import Settings
from hub_kernel.exceptions import HubError

Status = Literal["ok", "warn", "fail"]

PACKAGES = (
    "pandas", "pyarrow", "scikit-learn", "ipywidgets", "bokeh", "jupyter_bokeh", "voila",
    "papermill", "nbconvert", "mlflow", "skops", "gymnasium", "stable-baselines3", "torch",
    "pydantic-settings", "typer",
)


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str


def check_python(settings: Settings) -> Check:
    ok = sys.version_info >= (3, 11)
    return Check("python", "ok" if ok else "fail",
                 f"{sys.version.split()[0]} at {sys.executable}" + ("" if ok else "; need 3.11+"))


def check_packages(settings: Settings) -> Check:
    found, missing = [], []
    for name in PACKAGES:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            missing.append(name)
    if missing:
        return Check("packages", "fail",
                     f"missing: {', '.join(missing)}; run `make install` or "
                     "`pip install torch==2.13.0 && pip install -e .[dev]`")
    return Check("packages", "ok", ", ".join(found))


def check_home(settings: Settings) -> Check:
    try:
        home = settings.ensure_home()
        with tempfile.NamedTemporaryFile(dir=home, prefix=".doctor-") as handle:
            handle.write(b"ok")
            handle.flush()
    except OSError as exc:
        return Check("HUB_HOME", "fail",
                     f"{settings.home} is not writable ({exc.strerror}); set HUB_HOME to a "
                     "writable folder")
    except HubError as exc:  # another owner, or writable by others (core.config.check_home)
        return Check("HUB_HOME", "fail", str(exc))
    return Check("HUB_HOME", "ok", f"{home} is writable, yours only")


def check_kernel(settings: Settings, timeout: float = 60.0) -> Check:
    from jupyter_client.manager import start_new_kernel

    try:
        manager, client = start_new_kernel(kernel_name="python3", startup_timeout=timeout,
                                           stderr=subprocess.DEVNULL)
    except Exception as exc:
        return Check("kernel", "fail",
                     f"the python3 kernel does not start ({exc}); reinstall ipykernel")
    printed: list[str] = []

    def collect(msg: dict) -> None:
        if msg["header"]["msg_type"] == "stream":
            printed.append(msg["content"]["text"])

    try:
        # the kernel must run hub from this environment (a user-level kernelspec could win)
        code = "import sys, hub_kernel, widgets; print(sys.prefix)"
        reply = client.execute_interactive(code, timeout=timeout, output_hook=collect)
        status = reply["content"]["status"]
        where = "".join(printed).strip() or "?"
    except Exception as exc:
        return Check("kernel", "fail", f"the python3 kernel started but does not run code ({exc})")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    if status != "ok":
        error = reply["content"].get("ename", status)
        return Check("kernel", "fail",
                     f"the python3 kernel cannot import hub ({error}); its kernelspec points at "
                     "another Python: remove it (`jupyter kernelspec list`) or reinstall hub there")
    if os.path.realpath(where) != os.path.realpath(sys.prefix):
        return Check("kernel", "fail",
                     f"the python3 kernel runs {where}, not this environment ({sys.prefix}); "
                     "`jupyter kernelspec list` shows which kernelspec wins")
    return Check("kernel", "ok", f"python3 kernel runs hub from {where}")


def check_mlflow(settings: Settings) -> Check:
    from urllib.parse import urlsplit

    if urlsplit(settings.tracking_uri).scheme.lower() in ("http", "https"):
        return check_mlflow_server(settings.tracking_uri)
    try:
        settings.ensure_home()
        from hub_kernel.models.tracking import check_uri, mlflow_client

        check_uri(settings.tracking_uri)
        client = mlflow_client(settings.tracking_uri)  # WAL, busy timeout, created under a lock
        n = len(client.search_experiments())
    except Exception as exc:
        from hub_kernel.core.redact import redact_text, redact_url

        return Check("mlflow", "fail",
                     f"store {redact_url(settings.tracking_uri)} does not open: "
                     f"{redact_text(str(exc))}; check HUB_MLFLOW_URI or the permissions of "
                     "HUB_HOME")
    return Check("mlflow", "ok", f"{settings.tracking_uri} opens ({n} experiments)")


def check_mlflow_server(uri: str, timeout: float = 5.0) -> Check:
    """A shared tracking server (``HUB_MLFLOW_URI=http://...``): its ``/health`` answers and
    so does its API. The detail never holds credentials."""
    import urllib.error
    import urllib.request

    from hub_kernel.core.redact import redact_url

    shown = redact_url(uri)
    health = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(health, timeout=timeout) as answer:  # noqa: S310 - http(s)
            status = answer.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return Check("mlflow", "fail",
                     f"tracking server {shown} does not answer ({redact_url(str(reason))}); "
                     "start it (`hub mlflow-server`) or fix HUB_MLFLOW_URI")
    if status != 200:
        return Check("mlflow", "fail",
                     f"tracking server {shown} answers /health with HTTP {status}")
    try:
        from hub_kernel.models.tracking import mlflow_client

        n = len(mlflow_client(uri).search_experiments(max_results=100))
    except Exception as exc:
        return Check("mlflow", "fail", f"tracking server {shown} is up but its API fails: "
                                       f"{redact_url(str(exc).splitlines()[0][:300])}")
    return Check("mlflow", "ok", f"tracking server {shown} answers ({n} experiments)")


def check_browser(settings: Settings) -> Check:
    path = settings.browser_path
    found = str(path) if path.is_file() and os.access(path, os.X_OK) else shutil.which("chromium")
    resolved = Path(found) if found else None
    if not resolved:
        return Check("browser", "warn",
                     f"no Chromium at {path} (needed for browser tests and PDF reports); "
                     "install it with `apt-get install chromium` or set HUB_BROWSER_PATH")
    try:
        out = subprocess.run([str(resolved), "--version"], capture_output=True, text=True,
                             timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return Check("browser", "fail", f"{resolved} does not run: {exc}")
    return Check("browser", "ok", f"{out} at {resolved}")


def check_agents(settings: Settings) -> Check:
    """Agent failures of the last day: each left its dashboard on the last good layout."""
    from hub_kernel.safety.guard import FailureLog

    failures = FailureLog(settings.home / "safety.db").recent()
    if not failures:
        return Check("agents", "ok", "no agent failed in the last 24 hours")
    last = failures[-1]
    agents = sorted({f.agent for f in failures})
    return Check("agents", "warn",
                 f"{len(failures)} agent failure(s) in the last 24 hours ({', '.join(agents)}); "
                 f"the last, at {last.time} on {last.key}: {last.error}. Dashboards kept their "
                 f"last good layout; see `hub audit --action fallback`")


def check_scheduler(settings: Settings) -> Check:
    """A scheduler must run when jobs are scheduled (no jobs: nothing to run, ok)."""
    from hub_kernel.schedule.daemon import scheduler_state
    from hub_kernel.schedule.jobs import JobStore

    jobs = JobStore(settings).list()
    state = scheduler_state(settings)
    if not jobs:
        return Check("scheduler", "ok", "no scheduled jobs (`hub schedule add` adds one)")
    if not state.alive:
        return Check("scheduler", "warn",
                     f"{len(jobs)} job(s) scheduled but no scheduler runs ({state.detail}); "
                     "start it with `hub scheduler start`")
    upcoming = [j.next_run for j in jobs if j.next_run is not None]
    soon = f"; next run {min(upcoming).isoformat(timespec='seconds')}" if upcoming else ""
    return Check("scheduler", "ok", f"{state.detail}; {len(jobs)} job(s){soon}")


def check_runs(settings: Settings) -> Check:
    """The newest run of every job succeeded."""
    from hub_kernel.schedule.history import RunHistory

    last = RunHistory(settings.runs_dir / "history.db").last_runs()
    if not last:
        return Check("scheduled runs", "ok", "no scheduled runs yet")
    failed = [r for r in last.values() if r.status == "failed"]
    if failed:
        shown = "; ".join(
            f"{r.job} failed at {r.started_at[:19]}: {r.error}"
            + (f" (see {r.html})" if r.html else "") for r in failed)
        return Check("scheduled runs", "warn",
                     f"{shown}; `hub schedule runs` shows the history")
    return Check("scheduled runs", "ok", f"the last run of {len(last)} job(s) succeeded")


def check_champions(settings: Settings) -> Check:
    """No champion's newest data has drifted past the thresholds."""
    from hub_kernel.models.registry import ModelRegistry
    from hub_kernel.schedule.monitor import champion_drift

    try:
        drifts = champion_drift(ModelRegistry(tracking_uri=settings.tracking_uri))
    except Exception as exc:
        return Check("champions", "warn", f"drift not checked: {exc}")
    if not drifts:
        return Check("champions", "ok", "no champions yet")
    drifted = [d for d in drifts if d.status == "drifted"]
    if drifted:
        shown = "; ".join(f"{d.model} v{d.champion}: {d.detail}" for d in drifted)
        return Check("champions", "warn",
                     f"{shown} Retrain with `hub models retrain` or schedule it "
                     "(`hub schedule add retrain --every 1d -p model=NAME`)")
    return Check("champions", "ok", f"{len(drifts)} champion(s), none drifted")


def check_reward_parity(settings: Settings) -> Check:
    """No user group is starved by the design agent's exploration."""
    from hub_kernel.agents.common.events import EventStore
    from hub_kernel.agents.controller import MetaController

    report = MetaController(events=EventStore(settings.home / "events.db"),
                            path=settings.home / "safety.db").parity()
    if not report.groups:
        return Check("reward parity", "ok", "no rewards recorded yet")
    return Check("reward parity", "warn" if report.starved else "ok", report.explanation)


CHECKS: tuple[Callable[[Settings], Check], ...] = (
    check_python, check_packages, check_home, check_kernel, check_mlflow, check_browser,
    check_agents, check_reward_parity, check_scheduler, check_runs, check_champions,
)


def run_checks(settings: Settings) -> list[Check]:
    """Run every check; a check that crashes is reported as failed, never raised."""
    results = []
    for check in CHECKS:
        try:
            results.append(check(settings))
        except Exception as exc:
            results.append(Check(check.__name__.removeprefix("check_"), "fail", repr(exc)))
    return results
