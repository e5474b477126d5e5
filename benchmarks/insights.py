"""Time to the first analysis tiles on a 1,000,000-row x 20-column table, against
ydata-profiling's minimal mode on the same file (its time to a finished report).

- hub: in a fresh process with a fresh ``HUB_HOME`` (imports done, untimed), from the Parquet
  file on disk: ``load_dataset``, ``profile_dataset``, the agents' ``MetaController.plan`` (the
  strategy agent picks the analyses), then the planned analysis tiles computed one after the
  other in the plan's order, cheapest estimate first, as the dashboard's background worker does.
  Reported: time until the first analysis tile is filled, and until every one is.
- peer: ydata-profiling 4.18.4 in its own virtual environment (``make peers``; it needs
  pandas < 3, hub runs on pandas 3), in a fresh process (imports done, untimed), from the same
  file: ``pandas.read_parquet`` then ``ProfileReport(frame, minimal=True).to_html()``.

Both get the same file, the same cold start (new process, imports excluded, file in the OS
cache after the first untimed warm-up of each) and no tuning: ydata-profiling's documented
minimal mode, hub's defaults. Seeds change the generated data (mixed types, missing values,
correlated and skewed columns, a date, ids). The goal is ydata-profiling's time >= 5x hub's time
to the first analysis tiles (median over seeds). Missing the goal exits 0; a failed run exits 1.

Run: ``make peers`` once, then ``.venv/bin/python benchmarks/insights.py [--rows 1000000]
[--seeds 0 1 2] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
PEER_PYTHON = REPO / ".venv-peers" / "ydata" / "bin" / "python"
GOAL = 5.0


def generate(rows: int, seed: int) -> pd.DataFrame:
    """20 columns: 10 numeric (correlated, skewed, with missing values), 4 categorical, 2
    boolean, a date, an id, a count and a free-text code."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=rows)
    data: dict[str, object] = {}
    for i in range(10):
        mix = rng.uniform(0.0, 0.9)
        column = mix * base + (1 - mix) * rng.normal(size=rows)
        if i % 3 == 1:
            column = np.exp(column)  # skewed
        if i % 4 == 2:
            column[rng.random(rows) < 0.08] = np.nan
        data[f"measure_{i}"] = column * rng.uniform(1, 100)
    for i, levels in enumerate((3, 5, 12, 40)):
        names = np.array([f"level {j}" for j in range(levels)])
        data[f"group_{i}"] = pd.Categorical(names[rng.integers(0, levels, rows)])
    data["flag_a"] = rng.random(rows) < 0.3
    data["flag_b"] = base > 1.0
    data["date"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(
        np.sort(rng.integers(0, 4 * 365 * 24, rows)), unit="h")
    data["customer_id"] = rng.permutation(rows)
    data["visits"] = rng.poisson(3 + 2 * (base > 0), rows)
    data["code"] = np.char.add("C", rng.integers(0, 500, rows).astype(str))
    return pd.DataFrame(data)


HUB_SCRIPT = textwrap.dedent("""
    import json, sys, time
    from hub_kernel.agents.controller import MetaController
    from hub_kernel.agents.plan import dashboard_id
    from hub_kernel.analyses import get
    from hub_kernel.data import load_dataset, profile_dataset
    # imports untimed, as the peer's: the libraries hub's analyses load on first use too
    import scipy.stats, sklearn.cluster, sklearn.ensemble, sklearn.inspection  # noqa: F401
    path = sys.argv[1]
    started = time.perf_counter()
    frame = load_dataset(path)
    profile = profile_dataset(frame)
    plan = MetaController().plan(profile, user="bench", dashboard=dashboard_id(frame))
    planned = time.perf_counter() - started
    names = [t.analysis for t in plan.layout if t.analysis]
    done, failed = [], []
    for name in names:
        try:
            get(name).run(frame, profile)
        except Exception as exc:
            failed.append(f"{name}: {exc}")
        done.append(time.perf_counter() - started)
    print(json.dumps({"planned": planned, "first": min(done) if done else None,
                      "all": max(done) if done else None, "analyses": names,
                      "failed": failed}))
""")

PEER_SCRIPT = textwrap.dedent("""
    import json, sys, time, warnings
    warnings.filterwarnings("ignore")
    import pandas as pd
    from ydata_profiling import ProfileReport
    path = sys.argv[1]
    started = time.perf_counter()
    frame = pd.read_parquet(path)
    html = ProfileReport(frame, minimal=True, progress_bar=False).to_html()
    print(json.dumps({"all": time.perf_counter() - started, "bytes": len(html)}))
""")


def run(python: Path | str, script: str, path: Path, home: Path) -> dict:
    env = {**os.environ, "HUB_HOME": str(home), "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([str(python), "-c", script, str(path)], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=3600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{python} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not PEER_PYTHON.exists():
        print(f"ydata-profiling's environment is missing ({PEER_PYTHON}): run `make peers`")
        return 1
    results = []
    with tempfile.TemporaryDirectory(prefix="hub-insights-") as tmp:
        for seed in args.seeds:
            path = Path(tmp) / f"table-{seed}.parquet"
            generate(args.rows, seed).to_parquet(path)
            run(sys.executable, HUB_SCRIPT, path, Path(tmp) / f"warm-{seed}")  # untimed warm-up
            run(PEER_PYTHON, PEER_SCRIPT, path, Path(tmp) / "peer")
            hub = run(sys.executable, HUB_SCRIPT, path, Path(tmp) / f"home-{seed}")
            peer = run(PEER_PYTHON, PEER_SCRIPT, path, Path(tmp) / "peer")
            ratio = peer["all"] / hub["first"] if hub["first"] else float("nan")
            results.append({"seed": seed, "hub": hub, "peer": peer, "ratio": ratio})
            print(f"seed {seed}: hub plan {hub['planned']:.2f} s, first analysis tile "
                  f"{hub['first']:.2f} s, all {len(hub['analyses'])} "
                  f"({', '.join(hub['analyses'])}) {hub['all']:.2f} s"
                  f"{' FAILED: ' + '; '.join(hub['failed']) if hub['failed'] else ''}; "
                  f"ydata-profiling minimal {peer['all']:.2f} s; ratio {ratio:.1f}x",
                  flush=True)
    ratios = [r["ratio"] for r in results]
    median = statistics.median(ratios)
    spread = f"{min(ratios):.1f}-{max(ratios):.1f}"
    all_ratio = statistics.median(r["peer"]["all"] / r["hub"]["all"] for r in results)
    print(f"\nmedian ydata-profiling / hub first analysis tiles: {median:.1f}x (range {spread}; "
          f"goal >= {GOAL:.0f}x: {'met' if median >= GOAL else 'NOT met'}); "
          f"ydata-profiling / hub every analysis tile: {all_ratio:.1f}x")
    if args.json:
        args.json.write_text(json.dumps({"rows": args.rows, "results": results,
                                         "median_ratio": median}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
