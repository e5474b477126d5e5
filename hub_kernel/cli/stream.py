"""``hub stream ...``: live stream commands (mounted by ``hub_kernel.cli``).

Also runnable alone: ``python -m hub_kernel.cli.stream demo-server --port 8765``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer

from hub_kernel.cli.common import command_group
from hub_kernel.exceptions import HubError

app = command_group("Live streams over WebSocket.")


@app.callback()
def _main() -> None:
    """Live streams over WebSocket."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@app.command("demo-server")
def demo_server(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).")] = 8765,
    rate: Annotated[float, typer.Option(help="Rows per second (0: as fast as possible).")] = 20.0,
    dataset: Annotated[
        Path | None,
        typer.Option(help="A CSV/Parquet file to replay instead of the bundled sample."),
    ] = None,
    loop: Annotated[
        bool, typer.Option("--loop/--no-loop", help="Replay the table forever.")
    ] = True,
    count: Annotated[int | None, typer.Option(help="Stop after this many rows.")] = None,
    garbage_every: Annotated[
        int, typer.Option(help="Test mode: a garbage frame after every N messages.")
    ] = 0,
    close_after: Annotated[
        int, typer.Option(help="Test mode: close each connection after N messages.")
    ] = 0,
) -> None:
    """Replay a table as JSON rows (with seq and ts) over WebSocket on 127.0.0.1 (?from=N)."""
    from hub_kernel.data import load_dataset
    from hub_kernel.data.stream.server import DemoStreamServer

    try:
        server = DemoStreamServer(
            load_dataset(dataset),
            port=port,
            rate=rate,
            loop=loop,
            count=count,
            garbage_every=garbage_every,
            close_after=close_after,
        )
    except HubError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None

    def ready() -> None:
        typer.echo(f"streaming on {server.url} (Ctrl-C stops)")

    try:
        asyncio.run(server.serve(on_ready=ready))
    except KeyboardInterrupt:
        pass
    except HubError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


if __name__ == "__main__":
    app()
