"""hub's Voilà server: Voilà with the ``Host`` header of every request checked.

Voilà turns Jupyter Server's host check off (``allow_remote_access=True``), so a page on another
site could reach a loopback dashboard by DNS rebinding: its script's requests carry
``Host: evil.example:PORT`` and got the dashboard. Here a request is served only when its host
is an address literal (a rebinding attack needs a name) that fits the bound address, or a name
the operator allowed: ``localhost`` on a loopback address, and the names given with
``--allow-host`` (``HubVoila.allow_hosts``). Everything else gets 403 and a log line naming the
host. Once configured, the server forgets the token's carriers: ``HUB_SERVE_TOKEN`` leaves its
environment (so no kernel inherits it) and the private config file is deleted. ``/hub/health``
answers load balancers (``health``). ``hub serve`` and ``hub demo`` start Voilà through this
module.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
from typing import Any

from jupyter_server.base.handlers import JupyterHandler
from traitlets import List, Unicode
from voila.app import Voila

_HOST = re.compile(r"(.*?)(:\d+)?")


def host_allowed(host_header: str, *, bound: str, names: frozenset[str]) -> bool:
    """Whether a request whose ``Host`` is ``host_header`` may be served by a server bound to
    ``bound``: an address literal (loopback ones only when bound to loopback), ``localhost``
    when bound to loopback, or one of ``names``."""
    match = _HOST.fullmatch(host_header.strip())
    host = (match.group(1) if match else host_header).lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host in names:
        return True
    try:
        bound_address = ipaddress.ip_address(bound)
    except ValueError:
        bound_address = None
    loopback = bound == "localhost" or bool(bound_address and bound_address.is_loopback)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return loopback and host == "localhost"
    return address.is_loopback if loopback else True


def _check_host(self: JupyterHandler) -> bool:
    rule = self.settings.get("hub_host_rule")
    if rule is None:  # not hub's server: Jupyter Server's own check
        return _jupyter_check_host(self)
    if host_allowed(self.request.host, bound=rule[0], names=rule[1]):
        return True
    self.log.warning("Blocking a request for host %r: not this server's address nor a name "
                     "given with --allow-host", self.request.host)
    return False


_jupyter_check_host = JupyterHandler.check_host


class HubVoila(Voila):
    """Voilà, with the host check (module docstring)."""

    allow_hosts = List(Unicode(), help="Host names this server answers to, besides its "
                                       "address (and localhost on loopback).").tag(config=True)

    def initialize(self, argv: Any = None) -> None:
        super().initialize(argv)
        # the token is in this process's configuration now: kernels (which inherit the
        # environment) never see it, and the private config file that carried it goes
        os.environ.pop("HUB_SERVE_TOKEN", None)
        run_config = os.environ.pop("HUB_RUN_CONFIG", None)
        if run_config:
            shutil.rmtree(run_config, ignore_errors=True)
            os.environ["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
                p for p in os.environ.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep)
                if p and p != run_config)

    def init_handlers(self) -> list[Any]:
        from jupyter_server.utils import url_path_join

        from hub_kernel.health import HealthHandler

        # first: Voilà's own patterns would take any path for a notebook
        return [(url_path_join(self.server_url, "/hub/health"), HealthHandler),
                *super().init_handlers()]

    def init_settings(self) -> dict[str, Any]:
        settings = super().init_settings()
        settings["hub_host_rule"] = (self.ip, frozenset(h.lower() for h in self.allow_hosts))
        return settings


def main() -> None:
    # every handler (pages, kernels' websockets, static files) derives from JupyterHandler,
    # whose prepare() calls check_host: replacing it here covers them all, in this process
    JupyterHandler.check_host = _check_host  # type: ignore[method-assign]
    HubVoila.launch_instance()


if __name__ == "__main__":
    main()
