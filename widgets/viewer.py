"""Who is looking: the ``?user=`` of a Voila page, else ``HUB_USER``."""

from __future__ import annotations

import logging
import os
import re
from urllib.parse import parse_qs

from hub_kernel.core.config import get_settings

logger = logging.getLogger("hub_kernel")
_VALID = re.compile(r"[A-Za-z0-9_.@-]{1,64}")  # fullmatch: "$" would pass "alice\n"


def viewer_user() -> str:
    """The viewer's user name.

    Under Voila with preheated kernels this waits for the page request first (Voila's
    ``wait_for_request``), so run it after the slow cells: they are then already done when a
    viewer arrives. A ``user`` that is not a plain name is ignored, not trusted.
    """
    # only a preheated Voila kernel has a request to wait for: importing voila costs a cold
    # kernel 3 s or more (it loads jupyter_server), so nothing else pays it
    try:
        if os.environ.get("VOILA_PREHEAT", "False") != "False":
            from voila.utils import wait_for_request

            wait_for_request()
    except Exception:  # not under Voila, or its query endpoint is gone: nobody named
        logger.debug("no Voila request info", exc_info=True)
    names = parse_qs(os.environ.get("QUERY_STRING", "")).get("user", [])
    if names and _VALID.fullmatch(names[0]):
        return names[0]
    if names:
        logger.warning("ignoring an invalid ?user= in the page address")
    return get_settings().user
