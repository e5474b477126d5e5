"""Where hub's bundled files are: the project's notebooks and the Voila template of ``widgets``.

Notebooks (``dashboard.ipynb``, ``retrain.ipynb``...) live in the repository's ``notebooks/``
folder: looked for under the current directory first, then next to the source tree. The Voila
template ships inside the ``widgets`` package; it is located without importing ``widgets`` (the
engine never imports the UI layer).
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from hub_kernel.exceptions import HubError

SOURCE_TREE = Path(__file__).resolve().parents[2]
"""The folder holding the ``hub_kernel`` package (the repository root in a clone)."""


def repo_notebook(name: str, *, error: type[HubError] = HubError) -> Path:
    """A notebook of the project's ``notebooks/`` folder (cwd first, then the source tree);
    ``error`` (a ``HubError`` subclass) naming the folders looked in when it is in neither."""
    candidates = [Path.cwd() / "notebooks" / name, SOURCE_TREE / "notebooks" / name]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise error(
        f"notebooks/{name} not found (looked in {', '.join(str(c.parent) for c in candidates)}); "
        "run from a clone of the hub repository"
    )


def template_root(template: str) -> Path | None:
    """The Jupyter data folder holding the Voila template ``template`` shipped in ``widgets``
    (``None`` when ``widgets`` or the template is missing)."""
    spec = find_spec("widgets")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations))) / "share"
    return root if (root / "voila" / "templates" / template / "index.html.j2").is_file() else None
