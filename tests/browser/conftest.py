"""A real Voila server (``hub demo``) and headless Debian Chromium driven by Playwright.

Nothing here is skipped: without Chromium the tests fail and say how to install it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("HUB_BROWSER_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("HUB_TEST_ARTIFACTS", REPO / "test-artifacts"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A ``hub`` command serving Voila in a subprocess (``hub demo`` by default); stopped with
    SIGTERM (Voila keeps kernels otherwise).

    A viewer logs in as a person does: ``open(page)`` follows the one-time login link the
    command printed (the first page; later pages of the same person get the cookie it set);
    with ``auth="users"``, ``open_as(page, name)`` logs in with the token ``hub users add``
    issued for ``name``."""

    def __init__(self, home: Path, dataset: Path | None = None, preheat: bool = True,
                 command: tuple[str, ...] = ("demo",), pythonpath: tuple[Path, ...] = (),
                 auth: str | None = None) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = home / f"voila-{self.port}.log"
        self.auth = auth or "token"
        self.login_url: str | None = None
        self._cookies: list | None = None
        self._tokens: dict[str, str] = {}
        cmd = [sys.executable, "-m", "hub_kernel.cli", *command, "--port", str(self.port)]
        if auth is not None:
            cmd += ["--auth", auth]
        if dataset is not None:
            cmd += ["--dataset", str(dataset)]
        cmd.append("--preheat" if preheat else "--no-preheat")
        # the kernels import this checkout (and ``pythonpath``, e.g. a plug-in's directory)
        paths = [*map(str, pythonpath), str(REPO), os.environ.get("PYTHONPATH", "")]
        env = {**os.environ, "HUB_HOME": str(home),
               "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
        self._log_handle = self.log.open("w")
        self.process = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=self._log_handle,
                                        stderr=subprocess.STDOUT)
        label = f"hub {' '.join(command)}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{label} exited with {self.process.returncode}:\n"
                                   f"{self.log.read_text()[-3000:]}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    link = re.search(r"Login link: (\S+)", self.log.read_text())
                    self.login_url = link.group(1) if link else None
                    return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{label} did not listen on {self.port} within 60 s")

    def open(self, page, query: str = "", **goto: object) -> None:
        """Open the dashboard in ``page``, logged in: the first time through the printed
        login link (which redirects to the plain URL), then with the cookie it set."""
        if self.auth == "users":
            self.open_as(page, "default", query, **goto)
            return
        if self.auth == "none":
            page.goto(self.url + query, **goto)
            return
        if self._cookies is None:
            assert self.login_url, f"no login link printed:\n{self.log.read_text()[-2000:]}"
            page.goto(self.login_url, **goto)
            assert page.url == self.url, page.url  # the token left the address
            self._cookies = page.context.cookies(self.url)
            if not query:
                return
        else:
            page.context.add_cookies(self._cookies)
        page.goto(self.url + query, **goto)

    def token_of(self, user: str) -> str:
        """``user``'s login token (issued with ``hub users add`` the first time)."""
        if user not in self._tokens:
            added = hub(self.home, "users", "add", user)
            assert added.returncode == 0, added.stderr
            self._tokens[user] = added.stdout.strip().splitlines()[-1]
        return self._tokens[user]

    def open_as(self, page, user: str, query: str = "", **goto: object) -> None:
        """Log in as ``user`` at /hub/login (the link a user is given), then open
        ``query``."""
        page.goto(f"{self.url}hub/login?token={self.token_of(user)}", **goto)
        assert page.url == self.url, page.url
        if query:
            page.goto(self.url + query, **goto)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log_handle.close()


# module scope, not session: while Playwright's sync API is open its event loop counts as
# running in this thread, which breaks any later test that runs an asyncio loop
@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM.exists(), (
        f"Chromium not found at {CHROMIUM}: install it with `apt-get install chromium` "
        "(make test does this as root); browser tests are never skipped"
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    context.close()


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory) -> Iterator[Server]:
    """``hub demo --auth users``: each test logs in as the users it needs (``open_as``)."""
    server = Server(tmp_path_factory.mktemp("hub-home"), auth="users")
    yield server
    server.stop()


@pytest.fixture
def start_server(tmp_path_factory):
    servers: list[Server] = []

    def start(dataset: Path | None = None, preheat: bool = True,
              pythonpath: tuple[Path, ...] = (), auth: str | None = None) -> Server:
        servers.append(Server(tmp_path_factory.mktemp("hub-home"), dataset, preheat,
                              pythonpath=pythonpath, auth=auth))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def screenshot(request):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    taken: list[object] = []

    def take(page, label: str) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        if page not in taken:
            taken.append(page)
        return path

    take.watch = taken.append  # type: ignore[attr-defined]  # screenshot this page on failure
    yield take
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        for page in taken:
            with contextlib.suppress(Exception):  # the page may be closed already
                take(page, "failed")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report


class NotebookServer(Server):
    """``hub serve NOTEBOOK`` in a subprocess (any notebook; stopped like ``Server``)."""

    def __init__(self, home: Path, notebook: Path, preheat: bool = False) -> None:
        super().__init__(home, preheat=preheat, command=("serve", str(notebook)))


def hub(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a ``hub`` command on HUB_HOME ``home`` (wide output: no wrapped names)."""
    env = {**os.environ, "HUB_HOME": str(home), "COLUMNS": "200",
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", ""))
                                         if p)}
    return subprocess.run([sys.executable, "-m", "hub_kernel.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(name="hub")
def hub_fixture():
    """``hub(home, *args)``: a ``hub`` command's completed process."""
    return hub


@pytest.fixture
def serve_notebook(tmp_path_factory):
    """Start ``hub serve`` on a notebook: ``serve_notebook(path, preheat=False)``."""
    servers: list[NotebookServer] = []

    def start(notebook: Path, preheat: bool = False) -> NotebookServer:
        servers.append(NotebookServer(tmp_path_factory.mktemp("hub-home"), notebook, preheat))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


class LabServer:
    """A real ``jupyter lab`` server in a subprocess, rooted at ``root``, with HUB_HOME and
    PYTHONPATH (the repository) for its kernels; stopped with SIGTERM."""

    def __init__(self, home: Path, root: Path) -> None:
        import secrets

        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.root = root
        self.home = home
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = home / f"lab-{self.port}.log"
        jupyter = Path(sys.executable).with_name("jupyter")
        cmd = [str(jupyter), "lab", "--no-browser", f"--port={self.port}",
               "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}",
               "--LabApp.news_url=", "--ServerApp.open_browser=False"]
        if os.geteuid() == 0:  # CI containers run as root; Jupyter refuses that unless told
            cmd.append("--allow-root")
        pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", ""))
                                     if p)
        # a private Jupyter data/runtime dir: no workspace or settings left by anyone else
        env = {**os.environ, "HUB_HOME": str(home), "PYTHONPATH": pythonpath,
               "JUPYTER_RUNTIME_DIR": str(home / "jupyter-runtime"),
               "JUPYTERLAB_WORKSPACES_DIR": str(home / "lab-workspaces"),
               "JUPYTERLAB_SETTINGS_DIR": str(home / "lab-settings")}
        home.mkdir(parents=True, exist_ok=True)
        self._log_handle = self.log.open("w")
        self.process = subprocess.Popen(cmd, cwd=root, env=env, stdout=self._log_handle,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.process.returncode}:\n"
                                   f"{self.log.read_text()[-3000:]}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"jupyter lab did not listen on {self.port} within 90 s")

    def notebook_url(self, name: str) -> str:
        return f"{self.url}lab/tree/{name}?token={self.token}&reset"

    def stop(self) -> None:
        Server.stop(self)  # type: ignore[arg-type]  # same process handling


def write_notebook(path: Path, *sources: str) -> Path:
    """A notebook of code cells ``sources`` (not run) at ``path``."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    nbformat.write(notebook, path)
    return path


@pytest.fixture(name="write_notebook")
def write_notebook_fixture():
    """``write_notebook(path, *sources)``: a notebook of code cells, not run."""
    return write_notebook


@pytest.fixture
def lab_server(tmp_path_factory) -> Iterator[LabServer]:
    """``jupyter lab`` rooted at a fresh directory, with a fresh HUB_HOME."""
    server = LabServer(tmp_path_factory.mktemp("hub-home"), tmp_path_factory.mktemp("lab-root"))
    yield server
    server.stop()
