"""Who is looking: the viewer hub's server authenticated, never the page's ``?user=``.

Under ``hub serve`` / ``hub demo`` (``HUB_SERVED`` is set) the server puts the logged-in name
and role into the request Voilà hands the kernel (``HTTP_X_HUB_VIEWER``, ``HTTP_X_HUB_ROLE``;
``hub_kernel.voila_app``), after dropping whatever the client sent under those names and any
``?user=``. Elsewhere (JupyterLab, a script) the viewer is ``HUB_USER`` (the settings' user),
an operator when this process owns ``HUB_HOME``: whoever runs the code can change the stores
anyway.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

from hub_kernel.core.config import get_settings

logger = logging.getLogger("hub_kernel")
_VALID = re.compile(r"[A-Za-z0-9_.@-]{1,64}")  # fullmatch: "$" would pass "alice\n"
VIEWER_ENV = "HTTP_X_HUB_VIEWER"
ROLE_ENV = "HTTP_X_HUB_ROLE"


@dataclass(frozen=True)
class Viewer:
    """The person a dashboard is shown to; operators may decide anyone's proposals and set
    modes above a viewer's own."""

    name: str
    operator: bool = False


def current_viewer() -> Viewer:
    """The viewer of this kernel's page.

    Under Voila with preheated kernels this waits for the page request first (Voila's
    ``wait_for_request``), so run it after the slow cells: they are then already done when a
    viewer arrives.
    """
    # only a preheated Voila kernel has a request to wait for: importing voila costs a cold
    # kernel 3 s or more (it loads jupyter_server), so nothing else pays it
    try:
        if os.environ.get("VOILA_PREHEAT", "False") != "False":
            from voila.utils import wait_for_request

            wait_for_request()
    except Exception:  # not under Voila, or its query endpoint is gone: nobody named
        logger.debug("no Voila request info", exc_info=True)
    settings = get_settings()
    if os.environ.get("HUB_SERVED"):
        name = os.environ.get(VIEWER_ENV, "")
        if _VALID.fullmatch(name):
            return Viewer(name, operator=os.environ.get(ROLE_ENV) == "operator")
        if name:
            logger.warning("ignoring an invalid viewer name from the server")
        return Viewer(settings.user)  # served, nobody named: a viewer, never an operator
    from hub_kernel.safety.users import cli_is_operator

    return Viewer(settings.user, operator=cli_is_operator(settings.home))


def viewer_user() -> str:
    """The viewer's user name (``current_viewer().name``)."""
    return current_viewer().name
