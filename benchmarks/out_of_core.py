"""Profiling data larger than memory: hub's out-of-core profile against pandas, under one
memory limit.

A Parquet dataset is generated whose in-memory size (``memory_usage(deep=True)`` of the frame
``pandas.read_parquet`` returns) is ``--factor`` (default 3) times the memory budget
(``--budget-mb``, default 400 MiB): float, integer, text and timestamp columns, some values
missing, written as many files of ``--rows-per-file`` rows. Then, each in a fresh Python
process:

- hub: ``open_table(folder)`` and ``profile_table(table)`` (dask.dataframe, out of core:
  exact rows and missing values, approximate quartiles, the 50,000-row sample) with
  ``HUB_MEMORY_BUDGET_BYTES`` set to the budget;
- pandas: ``pandas.read_parquet(folder)`` and hub's in-memory ``profile_dataset`` of that
  frame (the same profile).

The limit: the parent watches the child's resident memory (RSS, psutil, every 10 ms) and kills
it when it passes the budget; ``RLIMIT_AS`` is not used, as Arrow's allocator and thread stacks
reserve far more address space than they touch. A run that finishes reports its peak RSS as
the kernel counted it (``ru_maxrss``), one killed the RSS seen when it was stopped. The
interpreter and its imports (pandas, pyarrow, dask) count towards the limit: their RSS is
reported as "baseline". With ``--unlimited-peer`` (default on) pandas also runs once without a
limit, to show what it would have needed.

Run: ``.venv/bin/python benchmarks/out_of_core.py [--budget-mb 400] [--factor 3] [--dir DIR]
[--keep] [--json out.json]``. The data goes to a temporary folder under ``DIR`` (default: the
system temp folder) and is deleted afterwards unless ``--keep``. A hub run that fails or is
stopped exits 1; pandas being stopped is the expected outcome.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

MB = 2**20
POLL_SECONDS = 0.01


@dataclass
class Run:
    what: str
    limit_mb: float | None
    finished: bool
    seconds: float
    peak_rss_mb: float
    baseline_rss_mb: float | None
    note: str
    rows: int | None = None
    missing: int | None = None


# -- the data ----------------------------------------------------------------------------------
def _chunk(index: int, rows: int, seed: int):  # -> pd.DataFrame
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed + index)
    frame = pd.DataFrame({f"x{i}": rng.normal(i, 1 + i, rows) for i in range(8)})
    frame["count"] = rng.poisson(20, rows).astype("int64")
    frame["customer"] = rng.integers(0, 5_000_000, rows).astype("int64")
    frame["region"] = rng.choice(np.array(["north", "south", "east", "west", "centre"]), rows)
    frame["when"] = (pd.Timestamp("2020-01-01") + pd.to_timedelta(
        (index * rows + np.arange(rows)) * 7, unit="s"))
    frame.loc[rng.random(rows) < 0.05, "x1"] = np.nan
    frame.loc[rng.random(rows) < 0.10, "region"] = None
    return frame


def generate(folder: Path, target_bytes: int, rows_per_file: int, seed: int = 0) -> dict:
    """Parquet files in ``folder`` holding about ``target_bytes`` once in pandas."""
    folder.mkdir(parents=True, exist_ok=True)
    first = _chunk(0, rows_per_file, seed)
    per_file = int(first.memory_usage(deep=True).sum())
    files = max(1, math.ceil(target_bytes / per_file))
    for index in range(files):
        chunk = first if index == 0 else _chunk(index, rows_per_file, seed)
        chunk.to_parquet(folder / f"part-{index:04d}.parquet", index=False)
    disk = sum(p.stat().st_size for p in folder.glob("*.parquet"))
    return {"files": files, "rows": files * rows_per_file, "memory_bytes": files * per_file,
            "disk_bytes": disk, "columns": first.shape[1]}


# -- the children ------------------------------------------------------------------------------
def _rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def child(what: str, folder: str) -> None:
    """Run one profile and print its outcome as JSON (``ru_maxrss`` in KiB on Linux)."""
    # both runs import the same libraries before the baseline is taken
    import dask.dataframe  # noqa: F401
    import pandas as pd  # noqa: F401

    from hub_kernel.data import open_table, profile_dataset, profile_table

    baseline = _rss()
    started = time.perf_counter()
    if what == "hub":
        profile = profile_table(open_table(folder))
    else:
        import pandas

        profile = profile_dataset(pandas.read_parquet(folder))
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "peak": peak, "baseline": baseline,
                      "rows": profile.n_rows, "missing": profile.n_missing}))


def measure(what: str, folder: Path, limit: int | None, budget: int) -> Run:
    """Run ``what`` in a fresh process, stopping it when its RSS passes ``limit``."""
    import psutil

    env = {**os.environ, "HUB_MEMORY_BUDGET_BYTES": str(budget),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                          os.environ.get("PYTHONPATH", "")])}
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, __file__, "--child", what, str(folder)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env)
    watched = psutil.Process(process.pid)
    seen = 0
    killed = False
    while process.poll() is None:
        try:
            rss = watched.memory_info().rss
        except psutil.NoSuchProcess:
            break
        seen = max(seen, rss)
        if limit is not None and rss > limit:
            process.kill()
            killed = True
            break
        time.sleep(POLL_SECONDS)
    out, err = process.communicate()
    seconds = time.perf_counter() - started
    label = {"hub": "hub out-of-core profile (dask)",
             "pandas": "pandas read_parquet + profile"}[what]
    limit_mb = None if limit is None else limit / MB
    if killed:
        return Run(label, limit_mb, False, seconds, seen / MB, None,
                   f"stopped at the limit after {seconds:.1f} s (wall, incl. imports)")
    if process.returncode != 0:
        tail = (err.strip().splitlines() or ["no output"])[-1][:200]
        return Run(label, limit_mb, False, seconds, seen / MB, None,
                   f"failed (exit {process.returncode}): {tail}")
    result = json.loads(out.strip().splitlines()[-1])
    return Run(label, limit_mb, True, result["seconds"], max(seen, result["peak"]) / MB,
               result["baseline"] / MB, "finished", result["rows"], result["missing"])


# -- the report --------------------------------------------------------------------------------
def table(runs: list[Run], data: dict, budget: int) -> str:
    lines = [
        f"Data: {data['files']} Parquet files, {data['rows']:,} rows x {data['columns']} "
        f"columns; {data['memory_bytes'] / MB:,.0f} MiB in memory (pandas, deep), "
        f"{data['disk_bytes'] / MB:,.0f} MiB on disk; memory budget {budget / MB:,.0f} MiB "
        f"({data['memory_bytes'] / budget:.1f}x smaller than the data).",
        "",
        "| run | limit (RSS) | finished | time (s) | peak RSS (MiB) | baseline RSS (MiB) | "
        "rows | missing values | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        limit = "none" if run.limit_mb is None else f"{run.limit_mb:,.0f} MiB"
        lines.append(
            f"| {run.what} | {limit} | {'yes' if run.finished else 'no'} | {run.seconds:.1f} | "
            f"{run.peak_rss_mb:,.0f} | "
            f"{'' if run.baseline_rss_mb is None else f'{run.baseline_rss_mb:,.0f}'} | "
            f"{'' if run.rows is None else f'{run.rows:,}'} | "
            f"{'' if run.missing is None else f'{run.missing:,}'} | {run.note} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget-mb", type=int, default=400)
    parser.add_argument("--factor", type=float, default=3.0)
    parser.add_argument("--rows-per-file", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--unlimited-peer", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", nargs=2, metavar=("WHAT", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    budget = args.budget_mb * MB
    root = Path(tempfile.mkdtemp(prefix="hub-out-of-core-", dir=args.dir))
    try:
        folder = root / "data"
        started = time.perf_counter()
        data = generate(folder, int(budget * args.factor), args.rows_per_file)
        print(f"generated {data['rows']:,} rows in {time.perf_counter() - started:.0f} s",
              file=sys.stderr)
        runs = [measure("hub", folder, budget, budget), measure("pandas", folder, budget, budget)]
        if args.unlimited_peer:
            runs.append(measure("pandas", folder, None, budget))
        print(table(runs, data, budget))
        if args.json:
            args.json.write_text(json.dumps({"data": data, "budget_bytes": budget,
                                             "runs": [asdict(r) for r in runs]}, indent=2))
        return 0 if runs[0].finished else 1
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
