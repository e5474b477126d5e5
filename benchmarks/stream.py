"""Throughput and latency of hub's WebSocket stream source against a bare websockets client.

Measured on loopback, against the same server process (``hub_kernel.cli.stream
demo-server``, replaying the bundled sample, one JSON row per message, each stamped with its send
time ``ts``) in a separate process, so server and client do not share a GIL:

- hub: ``StreamSource`` as shipped: receive, parse, key by sequence number, commit every row to
  its SQLite store (WAL, ``synchronous=FULL``, one transaction per batch), append it to the
  rolling window, compute quality counters, call subscribers. Latency of a row: from ``ts`` to
  the moment its batch reaches the window (the ``on_rows`` callback).
- peer: a bare ``websockets`` client loop: receive + ``json.loads`` only, nothing stored.
  Latency: from ``ts`` to the moment the row is parsed.

Each run streams ``--events`` rows (default 100,000) as fast as the server can send them
(events/s = rows / time from connecting to the last row), alternating hub and peer, ``--runs``
times (default 3); the table shows medians. Under saturation latency is mostly time spent in
socket buffers (the server outpaces any consumer slower than it, and loopback TCP buffers hold
megabytes), so latency is also measured at fixed ``--paced-rates`` (default 10,000 rows/s, the
throughput goal, and 50,000; "" skips them). Goals: at least 10,000 events/s through hub's
source, p99 latency under 250 ms. Missing a goal still exits 0 (this is a measurement); a failed
run exits 1.

Run: ``.venv/bin/python benchmarks/stream.py [--events 100000] [--runs 3]
[--paced-rates 10000,50000] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from hub_kernel.exceptions import HubError

REPO = Path(__file__).resolve().parents[1]
GOAL_RATE = 10_000.0
GOAL_P99_MS = 250.0


@dataclass
class Result:
    events_per_s: float
    p50_ms: float
    p99_ms: float


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _result(n: int, started: float, ended: float, latencies: list[float]) -> Result:
    if len(latencies) < n:
        raise RuntimeError(f"only {len(latencies)} of {n} events arrived")
    return Result(n / (ended - started), 1000 * _percentile(latencies, 0.5),
                  1000 * _percentile(latencies, 0.99))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def demo_server(events: int, rate: float, home: Path) -> Iterator[str]:
    """The demo stream server in its own process; yields its URL."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "hub_kernel.cli.stream", "demo-server", "--port", str(port),
         "--rate", str(rate), "--count", str(events)],
        cwd=REPO, env={**os.environ, "HUB_HOME": str(home)}, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # "streaming on ws://..." once listening
        if not line.startswith("streaming on"):
            raise RuntimeError(f"the demo server did not start: {line!r}")
        yield f"ws://127.0.0.1:{port}/"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


async def run_bare(url: str, n: int) -> Result:
    """The peer: receive and json.loads, nothing else."""
    from websockets.asyncio.client import connect

    latencies: list[float] = []
    started = time.perf_counter()
    async with connect(url, max_size=2**24, proxy=None) as ws:
        async for message in ws:
            row = json.loads(message)
            latencies.append(time.time() - row["ts"])
            if len(latencies) == n:
                break
    return _result(n, started, time.perf_counter(), latencies)


async def run_hub(url: str, n: int, store: Path, name: str) -> Result:
    """hub's source as shipped: durable store, rolling window, quality, subscribers."""
    from hub_kernel.data.stream import Row, StreamSource

    latencies: list[float] = []
    stop = asyncio.Event()
    ended = 0.0

    def arrived(rows: list[Row]) -> None:
        nonlocal ended
        now = time.time()
        latencies.extend(now - row["ts"] for row in rows)
        if len(latencies) >= n:
            ended = time.perf_counter()
            stop.set()

    source = StreamSource(url, name, store_dir=store, time_field="ts")
    try:
        source.on_rows(arrived)
        started = time.perf_counter()
        await asyncio.wait_for(source.run(stop), timeout=600)
        stored = source.quality().rows_stored
    finally:
        source.close()
    if stored != n:
        raise RuntimeError(f"{stored} rows stored, expected {n}")
    return _result(n, started, ended, latencies)


def measure(url: str, n: int, runs: int, store: Path, label: str) -> dict[str, list[Result]]:
    results: dict[str, list[Result]] = {"hub": [], "bare": []}
    for i in range(runs):
        name = f"bench-{label.replace('/', '-per-')}-{i}"
        results["hub"].append(asyncio.run(run_hub(url, n, store, name)))
        results["bare"].append(asyncio.run(run_bare(url, n)))
        hub, bare = results["hub"][-1], results["bare"][-1]
        print(f"  {label} run {i + 1}: hub {hub.events_per_s:,.0f}/s p99 {hub.p99_ms:.1f} ms; "
              f"bare {bare.events_per_s:,.0f}/s p99 {bare.p99_ms:.1f} ms", flush=True)
    return results


def median(results: list[Result]) -> Result:
    return Result(*(statistics.median(getattr(r, f) for r in results)
                    for f in ("events_per_s", "p50_ms", "p99_ms")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--paced-rates", default=f"{GOAL_RATE:.0f},50000",
                        help="comma-separated rows/s of latency runs at a fixed rate ('': none)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    rates = [float(r) for r in args.paced_rates.split(",") if r.strip()]

    paced: dict[float, dict[str, list[Result]]] = {}
    with tempfile.TemporaryDirectory(prefix="hub-bench-stream-") as tmp:
        home = Path(tmp)
        try:
            print(f"max rate: {args.events:,} events x {args.runs} runs", flush=True)
            with demo_server(args.events, 0, home) as url:
                fast = measure(url, args.events, args.runs, home / "streams", "max")
            for rate in rates:
                n = max(1000, int(min(args.events, 2 * rate)))  # about 2 s a run
                print(f"paced: {n:,} events at {rate:,.0f}/s x {args.runs} runs", flush=True)
                with demo_server(n, rate, home) as url:
                    paced[rate] = measure(url, n, args.runs, home / "streams", f"{rate:.0f}/s")
        except (HubError, RuntimeError, OSError, TimeoutError) as exc:
            print(f"benchmark failed: {exc}", file=sys.stderr)
            return 1

    rows = [("hub StreamSource, max rate", median(fast["hub"])),
            ("bare websockets loop, max rate", median(fast["bare"]))]
    for rate, results in paced.items():
        rows += [(f"hub StreamSource, {rate:,.0f}/s", median(results["hub"])),
                 (f"bare websockets loop, {rate:,.0f}/s", median(results["bare"]))]
    print(f"\nmedians of {args.runs} runs, loopback, one row per message")
    print(f"{'':34} {'events/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
    for label, r in rows:
        print(f"{label:34} {r.events_per_s:>10,.0f} {r.p50_ms:>8.1f} {r.p99_ms:>8.1f}")
    hub, bare = rows[0][1], rows[1][1]
    print(f"\nthroughput ratio hub/bare: {hub.events_per_s / bare.events_per_s:.2f}")
    print(f"goal >= {GOAL_RATE:,.0f} events/s through hub: "
          f"{'met' if hub.events_per_s >= GOAL_RATE else 'NOT met'} ({hub.events_per_s:,.0f})")
    for label, r in rows[::2]:
        print(f"goal p99 < {GOAL_P99_MS:.0f} ms, {label}: "
              f"{'met' if r.p99_ms < GOAL_P99_MS else 'NOT met'} ({r.p99_ms:.1f} ms)")
    if args.json:
        args.json.write_text(json.dumps({
            "events": args.events, "runs": args.runs,
            "max_rate": {k: [asdict(r) for r in v] for k, v in fast.items()},
            "paced": {f"{rate:.0f}": {k: [asdict(r) for r in v] for k, v in results.items()}
                      for rate, results in paced.items()},
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
