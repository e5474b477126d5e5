"""CSV ingestion: hub's ``read_table`` against ``pandas.read_csv(engine="pyarrow")``.

Measured, on one generated CSV of mixed types (``--size-mb``, default 1024 MiB: ints, ints with
missing values, floats with missing values, a categorical text column, free text, ISO dates and
timestamps):

- wall time of the read call alone (imports excluded), in a fresh Python process per run, so
  that each run starts from the same state and its peak memory is its own;
- peak RSS of that process (``ru_maxrss``), which includes the interpreter and the imported
  libraries (also reported on their own, as "baseline", measured after the imports);
- the memory of the resulting frame, ``df.memory_usage(deep=True).sum()``.

- hub: ``hub_kernel.data.read_table(path)`` with default settings: detection of encoding and
  delimiter, streamed slices of ``HUB_CSV_BLOCK_BYTES``, dates parsed to datetime64.
- peer: ``pandas.read_csv(path, engine="pyarrow")``, pandas' fastest CSV reader.

The file is read once before timing so both readers find it in the OS page cache; runs
alternate between the readers (hub, pandas, pandas, hub, ...) so machine noise hits both.
Reported: medians over ``--runs`` runs (default 3). Goals: hub's throughput at least 0.9x the
peer's, and hub's peak RSS at most 1.5x the frame it returns. Missing a goal still exits 0 (this
is a measurement); a reader that fails, or frames of different shapes, exit 1.

Run: ``.venv/bin/python benchmarks/ingest.py [--size-mb 1024] [--runs 3] [--dir DIR] [--keep]
[--json out.json]``. The generated file goes to ``DIR`` (default: the system temp folder) and is
deleted afterwards unless ``--keep`` (a kept file is reused by the next run).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

GOAL_SPEED = 0.9  # hub throughput / pandas throughput, at least
GOAL_MEMORY = 1.5  # hub peak RSS / hub frame memory, at most
GENERATOR_VERSION = 1  # bump when the generated data changes
READERS = ("hub", "pandas")
LABELS = {"hub": "hub read_table", "pandas": 'pandas.read_csv(engine="pyarrow")'}
MB = 2**20


@dataclass
class Run:
    reader: str
    seconds: float
    peak_rss: int
    baseline_rss: int
    frame_bytes: int
    rows: int
    columns: int
    dtypes: dict[str, str]


def generate(path: Path, size_mb: int, seed: int = 0) -> None:
    """Write a CSV of at least ``size_mb`` MiB of mixed types (deterministic for a seed)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    weather = np.array(["sun", "rain", "fog", "drizzle", "snow", "cloudy", "storm", "hail"])
    words = np.array([f"w{i:05d}x" for i in range(20_000)])
    start_day, start_ts = np.datetime64("2010-01-01"), np.datetime64("2020-01-01T00:00:00")
    target, first_id, rows = size_mb * MB, 0, 200_000
    partial = path.with_suffix(".partial")
    with pa.OSFile(str(partial), "wb") as sink:
        writer = None
        while sink.tell() < target:
            table = pa.table(
                {
                    "id": np.arange(first_id, first_id + rows, dtype=np.int64),
                    "quantity": pa.array(
                        rng.integers(-1_000, 1_000_000, rows), mask=rng.random(rows) < 0.02
                    ),
                    "price": pa.array(
                        np.round(rng.normal(100, 30, rows), 3), mask=rng.random(rows) < 0.05
                    ),
                    "score": rng.random(rows),
                    "weather": pa.array(
                        weather[rng.integers(0, len(weather), rows)], mask=rng.random(rows) < 0.01
                    ),
                    "comment": np.char.add(
                        words[rng.integers(0, len(words), rows)],
                        words[rng.integers(0, len(words), rows)],
                    ),
                    "day": start_day + rng.integers(0, 5_000, rows).astype("timedelta64[D]"),
                    "ts": start_ts + rng.integers(0, 10**8, rows).astype("timedelta64[s]"),
                }
            )
            if writer is None:
                writer = pacsv.CSVWriter(sink, table.schema)
            writer.write_table(table)
            first_id += rows
        if writer is not None:
            writer.close()
    partial.replace(path)


def _rss_now() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def child(reader: str, path: str) -> None:
    """One measured read, in this fresh process; prints a JSON ``Run``."""
    import resource

    import pandas as pd

    if reader == "hub":
        from hub_kernel.data import read_table

        def read() -> pd.DataFrame:
            return read_table(path)
    else:
        import pyarrow  # noqa: F401 - imported before the clock starts, as hub's is

        def read() -> pd.DataFrame:
            return pd.read_csv(path, engine="pyarrow")

    baseline = _rss_now()
    started = time.perf_counter()
    frame = read()
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    run = Run(
        reader=reader,
        seconds=seconds,
        peak_rss=peak,
        baseline_rss=baseline,
        frame_bytes=int(frame.memory_usage(deep=True).sum()),
        rows=len(frame),
        columns=frame.shape[1],
        dtypes={str(k): str(v) for k, v in frame.dtypes.items()},
    )
    print(json.dumps(asdict(run)))


def measure(reader: str, path: Path) -> Run:
    result = subprocess.run(
        [sys.executable, __file__, "--child", reader, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{reader} failed:\n{result.stderr.strip()[-2000:]}")
    return Run(**json.loads(result.stdout.strip().splitlines()[-1]))


def _mb(n: float) -> str:
    return f"{n / MB:,.0f} MB"


def report(runs: dict[str, list[Run]], size: int) -> dict[str, object]:
    """Print the table of medians and the goals; return the figures."""
    med = {
        name: {
            key: statistics.median(getattr(r, key) for r in rs)
            for key in ("seconds", "peak_rss", "baseline_rss", "frame_bytes")
        }
        for name, rs in runs.items()
    }
    first = runs["hub"][0]
    print(
        f"\nCSV of {_mb(size)}: {first.rows:,} rows x {first.columns} columns; "
        f"medians of {len(runs['hub'])} runs each, one fresh process per run\n"
    )
    header = (
        f"{'reader':36} {'seconds':>8} {'MB/s':>7} {'peak RSS':>10} {'baseline':>9} "
        f"{'frame':>9} {'peak/frame':>10}"
    )
    print(header)
    print("-" * len(header))
    for name in READERS:
        m = med[name]
        print(
            f"{LABELS[name]:36} {m['seconds']:8.2f} {size / MB / m['seconds']:7.0f} "
            f"{_mb(m['peak_rss']):>10} {_mb(m['baseline_rss']):>9} {_mb(m['frame_bytes']):>9} "
            f"{m['peak_rss'] / m['frame_bytes']:10.2f}"
        )
    speed = med["pandas"]["seconds"] / med["hub"]["seconds"]
    memory = med["hub"]["peak_rss"] / med["hub"]["frame_bytes"]
    above_baseline = (med["hub"]["peak_rss"] - med["hub"]["baseline_rss"]) / med["hub"][
        "frame_bytes"
    ]
    print()
    print(
        f"speed, hub throughput / pandas throughput: {speed:.2f}x "
        f"(goal >= {GOAL_SPEED}x: {'met' if speed >= GOAL_SPEED else 'NOT met'})"
    )
    print(
        f"hub peak RSS / hub frame memory: {memory:.2f} "
        f"(goal <= {GOAL_MEMORY}: {'met' if memory <= GOAL_MEMORY else 'NOT met'}); "
        f"without the baseline of interpreter and imports: {above_baseline:.2f}"
    )
    differing = {
        column: (dtype, runs["pandas"][0].dtypes.get(column))
        for column, dtype in first.dtypes.items()
        if dtype != runs["pandas"][0].dtypes.get(column)
    }
    if differing:
        listed = ", ".join(f"{c}: hub {h}, pandas {p}" for c, (h, p) in differing.items())
        print(f"dtypes that differ: {listed}")
    return {
        "file_bytes": size,
        "rows": first.rows,
        "medians": med,
        "speed_ratio": speed,
        "memory_ratio": memory,
        "memory_ratio_above_baseline": above_baseline,
        "goals": {"speed": speed >= GOAL_SPEED, "memory": memory <= GOAL_MEMORY},
        "runs": {name: [asdict(r) for r in rs] for name, rs in runs.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the generated CSV")
    parser.add_argument("--runs", type=int, default=3, help="runs per reader (medians)")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--keep", action="store_true", help="keep the generated file")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--child", nargs=2, metavar=("READER", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0

    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"hub-ingest-{args.size_mb}mb-v{GENERATOR_VERSION}.csv"
    try:
        if path.exists():
            print(f"reusing {path}")
        else:
            print(f"generating {path} ({args.size_mb} MiB)...", flush=True)
            started = time.perf_counter()
            generate(path, args.size_mb)
            print(f"generated in {time.perf_counter() - started:.1f} s")
        size = path.stat().st_size
        with open(path, "rb") as handle:  # into the OS page cache, for both readers alike
            while handle.read(64 * MB):
                pass
        runs: dict[str, list[Run]] = {name: [] for name in READERS}
        for i in range(args.runs):
            order = READERS if i % 2 == 0 else READERS[::-1]
            for name in order:
                run = measure(name, path)
                runs[name].append(run)
                print(
                    f"  run {i + 1} {name:6}: {run.seconds:6.2f} s, "
                    f"peak {_mb(run.peak_rss)}, frame {_mb(run.frame_bytes)}",
                    flush=True,
                )
        shapes = {(r.rows, r.columns) for rs in runs.values() for r in rs}
        if len(shapes) != 1:
            print(f"readers disagree on the shape of the table: {shapes}", file=sys.stderr)
            return 1
        figures = report(runs, size)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
        return 0
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            path.unlink(missing_ok=True)
            path.with_suffix(".partial").unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
