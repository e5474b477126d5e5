"""Serving notebooks as dashboards with Voila.

Loopback by default, and never without a login unless asked: ``--auth token`` (the default) makes
a fresh token per start (or takes ``HUB_SERVE_TOKEN``) whose printed login link works once;
``--auth users`` accepts the tokens ``hub users add`` issued; ``--auth header`` trusts the user
name an authenticating proxy puts in a header; ``--auth none`` is refused off loopback.
``hub_kernel.voila_app`` enforces it. BokehJS is served as a static file next to the page.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import secrets
import shutil
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

from hub_kernel.core.config import Settings, get_settings
from hub_kernel.core.paths import template_root as bundled_template_root
from hub_kernel.core.redact import redact_url
from hub_kernel.exceptions import ServeError

logger = logging.getLogger("hub_kernel")

BOKEHJS_NAME = "hub-bokehjs"
AUTH_MODES = ("token", "users", "header", "none")
TEMPLATE = "hub"


def is_loopback(ip: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if ip == "localhost":
        return True
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def port_is_free(ip: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((ip, port))
        except OSError:
            return False
    return True


def prepare_bokehjs(settings: Settings) -> Path | None:
    """Copy ``bokeh.min.js`` to ``$HUB_HOME/static/hub-bokehjs/js/``; return the static root.

    A copy, not a link: Voila's file handler refuses files that resolve outside its folders.
    Found without importing bokeh (hub_kernel stays UI-free). ``None`` if bokeh is absent.
    """
    spec = find_spec("bokeh")
    if spec is None or not spec.submodule_search_locations:
        return None
    source = Path(next(iter(spec.submodule_search_locations))) / "server/static/js/bokeh.min.js"
    if not source.is_file():
        return None
    root = settings.static_dir
    if (root / BOKEHJS_NAME).is_symlink():  # left by an older hub; Voila refuses links
        (root / BOKEHJS_NAME).unlink()
    target = root / BOKEHJS_NAME / "js" / "bokeh.min.js"
    if not target.is_file() or target.read_bytes() != source.read_bytes():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        shutil.copyfile(source, tmp)
        tmp.replace(target)  # atomic: a page loading meanwhile never sees half a file
    return root


def _private_config(settings: Settings, port: int, config: dict) -> Path:
    """Write a ``voila.json`` only this user can read; return its folder."""
    folder = settings.home / "run" / f"voila-{port}"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    path = folder / "voila.json"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(config, handle)
    path.chmod(0o600)
    return folder


@dataclass
class ServePlan:
    """What ``serve`` will run: the Voila command line, its environment and the URL to open."""

    argv: list[str]
    env: dict[str, str] = field(repr=False)
    url: str
    token: str | None = field(default=None, repr=False)
    auth: str = "token"
    auth_header: str | None = None
    login_url: str | None = field(default=None, repr=False)  # --auth token: works once


#: what ``--stream`` / ``HUB_STREAM`` may name (``hub_kernel.data.stream`` reads them)
STREAM_SCHEMES = ("ws://", "wss://", "redis://", "rediss://")


def plan_serve(notebook: str | os.PathLike[str], ip: str | None = None, port: int | None = None,
               token: str | None = None, dataset: str | os.PathLike[str] | None = None,
               preheat: bool | None = None, settings: Settings | None = None,
               stream: str | None = None, allow_hosts: Sequence[str] = (),
               auth: str | None = None, auth_header: str | None = None) -> ServePlan:
    """Check the request and build the Voila command for it (``auth``: module docstring;
    ``auth_header`` the proxy's header of ``--auth header``, default ``X-Forwarded-User``).

    With ``preheat`` (default from settings) Voila keeps ``serve_pool_size`` kernels that have
    already run the notebook, so a viewer does not wait for imports and data loading; each
    pooled kernel holds its memory (~180 MB for the dashboard) while it waits.
    """
    settings = settings or get_settings()
    preheat = settings.serve_preheat if preheat is None else preheat
    notebook = Path(notebook)
    if not notebook.is_file():
        raise ServeError(f"notebook not found: {notebook}")
    if notebook.suffix != ".ipynb":
        raise ServeError(f"{notebook} is not a notebook (.ipynb)")
    ip = ip or settings.serve_ip
    port = settings.serve_port if port is None else port
    auth = auth or "token"
    if auth not in AUTH_MODES:
        raise ServeError(f"--auth {auth!r} is unknown; choose one of {', '.join(AUTH_MODES)}")
    if auth == "none" and not is_loopback(ip):
        raise ServeError(f"--auth none serves without any login and is allowed on a loopback "
                         f"address only (127.0.0.1, ::1), not {ip}: use --auth users (tokens "
                         "from `hub users add`) or --auth header behind an authenticating "
                         "proxy")
    if auth_header is not None and auth != "header":
        raise ServeError("--auth-header is for --auth header")
    auth_header = auth_header or "X-Forwarded-User"
    if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", auth_header):
        raise ServeError(f"--auth-header {auth_header!r} is not a header name (letters, "
                         "digits, '-')")
    if auth == "token":
        if token is None and settings.serve_token is not None:
            token = settings.serve_token.get_secret_value()
        if not token:
            token = secrets.token_urlsafe(24)  # fresh per start, as Jupyter does
        if len(token) < 16:
            raise ServeError("the token must be at least 16 characters long")
    else:
        token = None  # the other modes have no server token
    if not port_is_free(ip, port):
        raise ServeError(f"port {port} on {ip} is in use; pick another with --port")

    settings.ensure_home()
    # kernels start in the notebook's folder: hand them what this command resolved
    env = dict(os.environ)
    env.pop("HUB_SERVE_TOKEN", None)  # handed over in a private file below, not inherited
    env["HUB_HOME"] = str(settings.home)
    env["HUB_SERVED"] = auth  # kernels know a server names their viewer (widgets.viewer)
    env_file = Path(os.environ.get("HUB_ENV_FILE", ".env"))
    if env_file.is_file():
        env["HUB_ENV_FILE"] = str(env_file.resolve())
    dataset = dataset if dataset is not None else settings.dataset
    if dataset is not None:
        from hub_kernel.data.catalog_ref import reference_path
        from hub_kernel.data.large import is_glob

        # a folder of Parquet files or a CSV glob is opened out of core by the dashboard
        if not (Path(dataset).is_file() or Path(dataset).is_dir() or is_glob(str(dataset))):
            raise ServeError(f"dataset not found: {dataset}")
        env["HUB_DATASET"] = reference_path(dataset)
    stream = stream if stream is not None else settings.stream
    if stream is not None:
        if stream != "demo" and not stream.startswith(STREAM_SCHEMES):
            raise ServeError(f"--stream {redact_url(stream)!r} is not a stream URL (ws://, "
                             "wss://, redis://host/stream?group=G or rediss://) "
                             "nor 'demo'")
        env["HUB_STREAM"] = stream
    argv = [
        sys.executable, "-m", "hub_kernel.voila_app", str(notebook),  # Voila, Host checked
        "--no-browser",
        f"--port={port}",
        "--Voila.port_retries=0",
        f"--Voila.ip={ip}",
        f"--MappingKernelManager.cull_idle_timeout={settings.kernel_cull_idle_seconds}",
        "--MappingKernelManager.cull_interval=60",
        *(f"--HubVoila.allow_hosts={_host_name(name)}" for name in allow_hosts),
        f"--HubVoila.auth={auth}",
    ]
    if auth == "header":
        argv.append(f"--HubVoila.auth_header={auth_header}")
    if token:
        # not on the command line, which every local user can read (ps, /proc/PID/cmdline)
        config_dir = _private_config(settings, port, {"HubVoila": {"login_token": token}})
        env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
            p for p in (str(config_dir), env.get("JUPYTER_CONFIG_PATH", "")) if p
        )
        env["HUB_RUN_CONFIG"] = str(config_dir)  # the server deletes it once read
    if preheat:
        argv += ["--preheat_kernel=True", f"--pool_size={settings.serve_pool_size}"]
    static_root = prepare_bokehjs(settings)
    template_root = bundled_template_root(TEMPLATE)
    if static_root is not None and template_root is not None:
        argv += [f"--VoilaConfiguration.extra_labextensions_path={static_root}",
                 f"--template={TEMPLATE}"]
        env["JUPYTER_PATH"] = os.pathsep.join(
            p for p in (str(template_root), env.get("JUPYTER_PATH", "")) if p
        )
        env["HUB_BOKEHJS_IN_PAGE"] = "1"
    host = f"[{ip}]" if ":" in ip else ip
    url = f"http://{host}:{port}/"
    login_url = f"{url}hub/login?token={token}" if token else None
    return ServePlan(argv=argv, env=env, url=url, token=token, auth=auth,
                     auth_header=auth_header if auth == "header" else None,
                     login_url=login_url)


def _host_name(name: str) -> str:
    """A host name for ``--allow-host``, checked (it goes on Voila's command line)."""
    if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", name):
        raise ServeError(f"--allow-host {name!r} is not a host name (letters, digits, '.', "
                         "'-')")
    return name.lower()


def serve(plan: ServePlan) -> None:
    """Replace this process with the Voila server (signals such as SIGTERM reach Voila)."""
    logger.info("serving: %s", " ".join(plan.argv))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(plan.argv[0], plan.argv, plan.env)  # noqa: S606 - argv is built above, no shell
