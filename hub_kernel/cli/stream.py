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

app = command_group("Live streams: WebSocket and Redis Streams.")


@app.callback()
def _main() -> None:
    """Live streams: WebSocket and Redis Streams."""
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


@app.command("redis-demo")
def redis_demo(
    url: Annotated[str, typer.Argument(
        help="The stream to add to: redis://:password@host:port/db/stream (password, port "
             "and db optional).")],
    rate: Annotated[float, typer.Option(help="Rows per second (0: as fast as possible).")] = 20.0,
    dataset: Annotated[
        Path | None,
        typer.Option(help="A CSV/Parquet file to replay instead of the bundled sample."),
    ] = None,
    loop: Annotated[
        bool, typer.Option("--loop/--no-loop", help="Replay the table forever.")
    ] = True,
    count: Annotated[int | None, typer.Option(help="Stop after this many rows.")] = None,
    maxlen: Annotated[int, typer.Option(
        help="Trim the stream to about this many entries (0: never).")] = 100_000,
) -> None:
    """Replay a table into a Redis stream, one entry per row (field json: the row with seq and
    ts), for `hub stream consume` or `hub serve --stream redis://...` to follow."""
    from hub_kernel.core.redact import redact_url
    from hub_kernel.data import load_dataset
    from hub_kernel.data.stream.redis_client import replay

    try:
        frame = load_dataset(dataset)
        typer.echo(f"adding rows to {redact_url(url)} (Ctrl-C stops)")
        added = asyncio.run(replay(url, frame, rate=rate or None, count=count, loop=loop,
                                   maxlen=maxlen or None))
        typer.echo(f"added {added:,} entries")
    except KeyboardInterrupt:
        pass
    except HubError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command("consume")
def consume(
    url: Annotated[str, typer.Argument(
        help="ws://host:port/path, wss://..., or redis://:password@host:port/db/stream?group=G "
             "(password, port, db and group optional; rediss:// for TLS).")],
    name: Annotated[str | None, typer.Option(
        help="The store's name under HUB_HOME/streams (default for redis://: the stream key).")
    ] = None,
    group: Annotated[str | None, typer.Option(
        help="redis://: the consumer group (default: the URL's ?group=, else 'hub').")] = None,
    consumer: Annotated[str | None, typer.Option(
        help="redis://: this consumer's name (default: <hostname>-<name>).")] = None,
    start: Annotated[str | None, typer.Option(
        help="redis://: where a new group starts: 0 (the first entry, default) or $ (new ones).")
    ] = None,
    time_field: Annotated[str | None, typer.Option(
        help="The rows' event time field (for the lag).")] = None,
    sequence_field: Annotated[str, typer.Option(
        help="The rows' sequence number field: gaps are counted and a number already stored "
             "is a duplicate ('': none; auto: seq for ws://, none for redis://, whose entry "
             "ids identify rows).")] = "auto",
    every: Annotated[float, typer.Option(
        help="Seconds between quality lines (0: only the last).")] = 10.0,
) -> None:
    """Store a live stream's rows under HUB_HOME/streams until Ctrl-C or SIGTERM, printing its
    quality line. A redis:// stream is read with a consumer group, each entry acknowledged
    once stored: restarted, it goes on where it stopped, nothing lost or stored twice."""
    import signal

    from hub_kernel.data.stream import StreamSource

    async def main() -> None:
        source = StreamSource(url, name, group=group, consumer=consumer, start=start,
                              time_field=time_field, sequence_field=sequence_field or None)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        typer.echo(f"consuming {source.display_url} into {source.store_path} (Ctrl-C stops)")

        async def report() -> None:
            while every > 0:
                await asyncio.sleep(every)
                typer.echo(source.quality().summary())

        reporter = asyncio.create_task(report())
        try:
            await source.run(stop)
        finally:
            reporter.cancel()
            typer.echo(source.quality().summary())
            source.close()

    try:
        asyncio.run(main())
    except HubError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


if __name__ == "__main__":
    app()
