"""The ``hub`` command line: one Typer app (``hub_kernel.cli.root``), one module per command group.

Names resolve lazily so that ``python -m hub_kernel.cli.stream`` does not import every group first.
"""

from __future__ import annotations

from typing import Any


def main() -> None:
    """Run the ``hub`` command."""
    from hub_kernel.cli.root import main as run

    run()


def __getattr__(name: str) -> Any:
    if name == "app":
        from hub_kernel.cli.root import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
