"""Getting BokehJS onto the page before any bokeh widget renders.

Under ``hub serve`` the page's ``<head>`` already loads ``bokeh.min.js`` as a static file (hub's
Voila template; ``HUB_BOKEHJS_IN_PAGE`` tells the kernel so). Elsewhere (JupyterLab, plain
``voila``) BokehJS is inlined into the output, which works everywhere but weighs ~1.3 MB a page.
"""

from __future__ import annotations

import os

IN_PAGE_ENV = "HUB_BOKEHJS_IN_PAGE"
_loaded = False


def bokehjs_in_page() -> bool:
    """True in a Voila kernel whose page was rendered with hub's template."""
    return os.environ.get(IN_PAGE_ENV) == "1" and "VOILA_SERVER_URL" in os.environ


def ensure_bokehjs(force: bool = False) -> None:
    """Make BokehJS available in this notebook's page (once per kernel)."""
    global _loaded
    if (_loaded and not force) or bokehjs_in_page():
        _loaded = True
        return
    from bokeh.io import output_notebook
    from bokeh.resources import INLINE

    output_notebook(resources=INLINE, hide_banner=True)
    _loaded = True
