"""Getting BokehJS onto the page before any bokeh widget renders.

``hub serve`` exposes bokeh's own static folder through Voila (``HUB_BOKEHJS_ROUTE``), so a
dashboard page loads ``bokeh.min.js`` as a cached static file. Elsewhere (JupyterLab, plain
``voila``) BokehJS is inlined into the output, which works everywhere but weighs ~1.3 MB a page.
"""

from __future__ import annotations

import os
from html import escape

ROUTE_ENV = "HUB_BOKEHJS_ROUTE"
_loaded = False


def served_bokehjs_url() -> str | None:
    """URL of ``bokeh.min.js`` when running in a Voila kernel started by ``hub serve``."""
    route = os.environ.get(ROUTE_ENV)
    server_url = os.environ.get("VOILA_SERVER_URL") or os.environ.get("VOILA_BASE_URL")
    if not route or server_url is None:
        return None
    import bokeh

    return f"{server_url.rstrip('/')}/{route.strip('/')}/js/bokeh.min.js?v={bokeh.__version__}"


def ensure_bokehjs(force: bool = False) -> None:
    """Make BokehJS available in this notebook's page (once per kernel)."""
    global _loaded
    if _loaded and not force:
        return
    from IPython.display import HTML, display

    url = served_bokehjs_url()
    if url:
        # a parser-inserted script: loads before the widgets further down the page render
        display(HTML(f'<script type="text/javascript" src="{escape(url)}"></script>'))
    else:
        from bokeh.io import output_notebook
        from bokeh.resources import INLINE

        output_notebook(resources=INLINE, hide_banner=True)
    _loaded = True
