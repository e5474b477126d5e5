"""First paint of hub's dashboard against a bare Voila notebook.

Measured: wall time from the start of ``page.goto`` until the page shows its content, in headless
Debian Chromium (Playwright, sync API). Each load is a cold first-time viewer: a fresh browser
context (empty HTTP cache, so BokehJS and Voila's bundles are fetched every time; no cookies) and,
as Voila does for every page, a fresh kernel that runs the notebook. After each load the page is
left for about:blank, as a viewer would leave it (untimed); idle kernels are culled after 30 s.

- hub: ``hub demo`` as served by default, with a preheated kernel: Voila serving
  ``notebooks/dashboard.ipynb`` over the bundled sample, with a fresh ``HUB_HOME``. Shown when
  every ``.hub-tile`` is visible (at least ``--tiles`` of them) and every chart tile (at least
  ``--charts``) has a visible bokeh ``<canvas>``.
- hub, no preheat: the same with ``--no-preheat``: the viewer's kernel starts and runs the
  notebook after the request, as Voila does by default. Reported for transparency.
- peer: plain ``voila`` serving a one-cell notebook, ``print("hello from voila")``. Shown when
  that text is visible. This is the floor: Voila's own page, kernel start and execution.

One warm-up load per server is not counted (first imports, OS file cache). The measured loads
alternate between the servers (hub, hub-cold, bare, hub, ...) so machine noise hits all. The
goals (issue 15) are a median ratio hub/bare of at most 1.5 for hub as served by default and 2
without the preheated kernel; also reported is the time until every tile is filled (no analysis
tile still computing), on the bundled sample and with ``--rows 1000000`` on a generated
1,000,000-row x 20-column table (``benchmarks/insights.py``'s). Missing a goal
still exits 0 (this is a measurement); a page that fails to load, or a server that dies, exits 1.

Run: ``make bench`` or ``.venv/bin/python benchmarks/first_paint.py [--runs 5] [--json out.json]``
(Chromium at /usr/bin/chromium, or ``HUB_BROWSER_PATH``; never a downloaded one).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from playwright.sync_api import Browser, Error, Page, sync_playwright

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("HUB_BROWSER_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
GOAL_RATIO = 1.5
GOAL_COLD_RATIO = 2.0
HELLO = "hello from voila"
MAX_LISTED = 6  # lines of each error listing printed
LABELS = {"hub": "hub (preheated)", "hub-cold": "hub (no preheat)", "bare": "bare voila"}

# Predicates run in the page on every animation frame; they return performance.now() (ms since
# the navigation started, browser side) once the content is visible, else false. Bokeh draws
# inside shadow roots, so canvases are searched through them.
_VISIBLE_JS = """
const visible = (el) => {
  const r = el.getBoundingClientRect();
  return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden';
};
const deepAll = (root, selector, out = []) => {
  out.push(...root.querySelectorAll(selector));
  for (const el of root.querySelectorAll('*')) {
    if (el.shadowRoot) deepAll(el.shadowRoot, selector, out);
  }
  return out;
};
"""
HUB_READY_JS = "([minTiles, minCharts]) => {" + _VISIBLE_JS + """
  const tiles = [...document.querySelectorAll('.hub-tile')];
  if (tiles.length < minTiles || !tiles.every(visible)) return false;
  const charts = [...document.querySelectorAll('.hub-tile .hub-chart')];
  if (charts.length < minCharts) return false;
  if (!charts.every((c) => deepAll(c, 'canvas').some(visible))) return false;
  return performance.now();
}"""
# every tile filled in: no analysis still computing (the dashboard marks those tiles
# ``hub-tile--pending`` and shows a ``hub-progress`` indicator in them)
HUB_FILLED_JS = "(minTiles) => {" + _VISIBLE_JS + """
  const tiles = [...document.querySelectorAll('.hub-tile')];
  if (tiles.length < minTiles) return false;
  if (document.querySelector('.hub-tile--pending, .hub-tile .hub-progress')) return false;
  return performance.now();
}"""
BARE_READY_JS = "(text) => {" + _VISIBLE_JS + """
  if (!document.body) return false;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.data.includes(text) && node.parentElement && visible(node.parentElement)) {
      return performance.now();
    }
  }
  return false;
}"""


_FAILED_REQUEST = re.compile(r"[45]\d\d [A-Z]+ \S+ \([^)]*\): ")  # with a reason: once per failure
_ERROR_LINE = re.compile(r"^\[[EC] |\bERROR\b|\bCRITICAL\b")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class BenchError(RuntimeError):
    """A server or a page that did not come up."""


@dataclass
class Server:
    """A Voila server started by this script, its URL and its log file."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    login_url: str | None = None  # hub's printed one-time login link (hub servers only)
    cookies: list | None = None  # the login cookie it set, for the later loads

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise BenchError(f"{self.name} server exited with {self.process.returncode}:\n"
                             f"{self.tail()}")


@dataclass
class Load:
    """One page load: wall time from goto to visible, the browser's own clock, console errors."""

    seconds: float
    browser_ms: float
    errors: list[str] = field(default_factory=list)
    filled: float | None = None  # seconds from goto until every tile is filled (hub only)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(server: Server, port: int, timeout: float = 60.0) -> None:
    """Poll a TCP connect (a GET / would start a kernel and run the notebook)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server.check_alive()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise BenchError(f"{server.name} server not listening on {port} after {timeout:.0f} s:\n"
                     f"{server.tail()}")


def stop(server: Server) -> None:
    """SIGTERM (Voila shuts its kernels down), then kill the process group after 10 s."""
    proc = server.process
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
    # the group holds the kernels too; its id is the server's pid (start_new_session)
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@contextmanager
def start_server(name: str, argv: list[str], env: dict[str, str], port: int,
                 workdir: Path) -> Iterator[Server]:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    server = Server(name, process, f"http://127.0.0.1:{port}/", log)
    try:
        wait_for_port(server, port)
        link = re.search(r"Login link: (\S+)", log.read_text(errors="replace"))
        server.login_url = link.group(1) if link else None
        yield server
    finally:
        stop(server)


def hub_server(workdir: Path, preheat: bool, dataset: Path | None = None
               ) -> tuple[list[str], dict[str, str], int]:
    port = free_port()
    home = workdir / ("hub-home" if preheat else "hub-home-cold")
    home.mkdir()
    env = dict(os.environ, HUB_HOME=str(home), HUB_KERNEL_CULL_IDLE_SECONDS="30")
    env.pop("HUB_DATASET", None)
    argv = [sys.executable, "-m", "hub_kernel.cli", "demo", "--port", str(port),
            "--preheat" if preheat else "--no-preheat"]
    if dataset is not None:
        argv += ["--dataset", str(dataset)]
    return argv, env, port


def bare_server(workdir: Path) -> tuple[list[str], dict[str, str], int]:
    port = free_port()
    notebook = workdir / "bare" / "hello.ipynb"
    notebook.parent.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"print({HELLO!r})")])
    nbformat.write(nb, notebook)
    argv = [sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}",
            "--Voila.ip=127.0.0.1", "--Voila.port_retries=0",
            "--MappingKernelManager.cull_idle_timeout=30",
            "--MappingKernelManager.cull_interval=10"]
    return argv, dict(os.environ), port


def measure(browser: Browser, server: Server, predicate: str, arg: object,
            timeout_ms: float, filled: str | None = None, filled_arg: object = None) -> Load:
    """Load the server's page in a fresh context; time goto start to the predicate holding."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    try:
        page: Page = context.new_page()
        page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
        page.on("requestfailed", lambda r: errors.append(f"requestfailed: {r.url} {r.failure}"))
        url = server.url
        if server.login_url and server.cookies is None:
            url = server.login_url  # the warm-up load follows the link `hub demo` printed
        elif server.cookies:
            context.add_cookies(server.cookies)  # later loads: the same person, logged in
        start = time.perf_counter()
        try:  # "commit": Voila streams the page while the kernel runs; the predicate decides
            page.goto(url, wait_until="commit", timeout=timeout_ms)
            handle = page.wait_for_function(predicate, arg=arg, polling="raf", timeout=timeout_ms)
        except Error as exc:
            server.check_alive()
            shown = "\n".join(errors[-20:]) or "(no console errors)"
            raise BenchError(f"{server.name}: page not ready: {exc.message.splitlines()[0]}\n"
                             f"browser:\n{shown}\nserver log:\n{server.tail()}") from exc
        seconds = time.perf_counter() - start
        browser_ms = float(handle.json_value())
        if server.login_url and server.cookies is None:
            server.cookies = context.cookies(server.url)
        filled_seconds = None
        if filled is not None:
            try:
                page.wait_for_function(filled, arg=filled_arg, polling=100, timeout=timeout_ms)
            except Error as exc:
                raise BenchError(f"{server.name}: tiles not all filled: "
                                 f"{exc.message.splitlines()[0]}") from exc
            filled_seconds = time.perf_counter() - start
        # untimed: let the page finish setting up (its kernel websocket), as a viewer would;
        # leaving earlier makes the server log tracebacks of its own
        with suppress(Error):
            page.wait_for_load_state("networkidle", timeout=15_000)
        seen = list(errors)
        # leave as a viewer would: Voila's beforeunload handler asks the server to shut the
        # kernel down (closing the context alone skips it)
        page.goto("about:blank", timeout=timeout_ms)
        page.close()
        return Load(seconds, browser_ms, seen, filled_seconds)
    finally:
        context.close()


def log_errors(server: Server) -> list[str]:
    """A server log's errors, deduplicated with counts: error lines, refused or failed requests
    (with their reason) and each traceback's exception line."""
    counts: dict[str, int] = {}
    in_traceback = False
    for line in server.log.read_text(errors="replace").splitlines():
        if line.startswith("Traceback"):
            in_traceback = True
            continue
        if in_traceback:
            if not line.strip() or line.startswith((" ", "\t", "The above", "During handling")):
                continue
            in_traceback = False
        elif not (_ERROR_LINE.search(line) or _FAILED_REQUEST.match(line)):
            continue
        line = _UUID.sub("<id>", line)
        counts[line] = counts.get(line, 0) + 1
    return [f"{n}x {line}" for line, n in counts.items()]


def report(loads: dict[str, list[Load]], servers: list[Server]) -> dict[str, object]:
    """Print the table of runs, medians and ratios to the bare peer; return the JSON results."""
    seconds = {name: [load.seconds for load in runs] for name, runs in loads.items()}
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    ratios = {name: medians[name] / medians["bare"] for name in seconds if name != "bare"}
    met = ratios["hub"] <= GOAL_RATIO
    names = list(seconds)
    n = len(seconds["bare"])
    print(f"\nfirst paint, seconds from goto to visible ({n} runs each, cold contexts)")
    print(f"{'run':>6}  " + "  ".join(f"{LABELS[name]:>16}" for name in names))
    for i in range(n):
        print(f"{i + 1:>6}  " + "  ".join(f"{seconds[name][i]:>16.3f}" for name in names))
    for label, fn in (("median", statistics.median), ("min", min), ("max", max)):
        print(f"{label:>6}  " + "  ".join(f"{fn(seconds[name]):>16.3f}" for name in names))
    print()
    for name, ratio in ratios.items():
        print(f"ratio {LABELS[name]} / bare voila (medians): {ratio:.2f}")
    print(f"goal: ratio of hub as served by default (preheated kernel) <= {GOAL_RATIO}: "
          f"{'met' if met else 'NOT met'}")
    cold_met = ratios["hub-cold"] <= GOAL_COLD_RATIO
    print(f"goal: ratio of hub without a preheated kernel <= {GOAL_COLD_RATIO}: "
          f"{'met' if cold_met else 'NOT met'}")
    filled = {name: [load.filled for load in runs if load.filled is not None]
              for name, runs in loads.items()}
    for name, values in filled.items():
        if values:
            print(f"every tile filled, {LABELS[name]}: median {statistics.median(values):.3f} s "
                  f"(min {min(values):.3f}, max {max(values):.3f})")

    errors = {name: {" ".join(e.split()) for load in runs for e in load.errors}
              for name, runs in loads.items()}
    common = set.intersection(*errors.values())
    problems = {"all pages": sorted(common)}
    problems.update({f"{LABELS[name]} only": sorted(found - common)
                     for name, found in errors.items()})
    for where, lines in problems.items():
        if lines:
            print(f"\nbrowser errors/warnings, {where}:")
            for line in lines[:MAX_LISTED]:
                print(f"  {line[:200]}")
            if len(lines) > MAX_LISTED:
                print(f"  ... and {len(lines) - MAX_LISTED} more (all in --json)")
    server_errors = {server.name: log_errors(server) for server in servers}
    for name, lines in server_errors.items():
        if lines:
            print(f"\n{name} server log, errors:")
            for line in lines:
                print(f"  {line[:200]}")
    return {
        "goal_ratio": GOAL_RATIO,
        "ratios": ratios,
        "goal_met": met,
        "cold_goal_met": cold_met,
        "filled": filled,
        "arms": {name: {"seconds": seconds[name], "median": medians[name],
                        "browser_ms": [load.browser_ms for load in loads[name]]}
                 for name in names},
        "browser_errors": problems,
        "server_errors": server_errors,
        "chromium": CHROMIUM,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="measured loads per server")
    parser.add_argument("--tiles", type=int, default=6, help="tiles expected (bundled sample: 6)")
    parser.add_argument("--charts", type=int, default=4,
                        help="chart tiles expected (bundled sample: 4)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds allowed per load")
    parser.add_argument("--rows", type=int, default=0,
                        help="serve a generated table of this many rows x 20 columns "
                             "(benchmarks/insights.py's) instead of the bundled sample")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    timeout_ms = args.timeout * 1000

    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hub-bench-")))
        dataset = None
        if args.rows:
            sys.path.insert(0, str(Path(__file__).parent))
            from insights import generate

            dataset = workdir / f"table-{args.rows}.parquet"
            generate(args.rows, 0).to_parquet(dataset)
        try:
            hub = stack.enter_context(start_server("hub", *hub_server(workdir, True, dataset),
                                                   workdir))
            cold = stack.enter_context(
                start_server("hub-cold", *hub_server(workdir, False, dataset), workdir))
            bare = stack.enter_context(start_server("bare", *bare_server(workdir), workdir))
            playwright = stack.enter_context(sync_playwright())
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            stack.callback(browser.close)
            ready = [args.tiles, args.charts]
            targets = [(hub, HUB_READY_JS, ready, HUB_FILLED_JS),
                       (cold, HUB_READY_JS, ready, HUB_FILLED_JS),
                       (bare, BARE_READY_JS, HELLO, None)]
            loads: dict[str, list[Load]] = {"hub": [], "hub-cold": [], "bare": []}
            for run in range(args.runs + 1):  # run 0 is the warm-up
                for server, predicate, arg, filled in targets:
                    load = measure(browser, server, predicate, arg, timeout_ms, filled,
                                   args.tiles)
                    label = "warm-up" if run == 0 else f"run {run}"
                    more = f", every tile filled {load.filled:.3f} s" if load.filled else ""
                    print(f"{label:>8} {server.name:>8}: {load.seconds:.3f} s{more}",
                          flush=True)
                    if run:
                        loads[server.name].append(load)
            results = report(loads, [hub, cold, bare])
        except BenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
