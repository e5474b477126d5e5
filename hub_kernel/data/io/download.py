"""http(s) downloads into a temporary file; URLs made safe to show.

A download is refused when any hop (the URL, then each redirect) reaches a private, loopback or
link-local address, unless ``HUB_URL_ALLOW_PRIVATE`` is set: the host is resolved and checked
before connecting, and the connected peer checked again. It is bounded in size
(``HUB_DOWNLOAD_MAX_BYTES`` and ``HUB_MAX_FILE_BYTES``, declared or received), in time without
progress (``timeout``) and in time overall (``HUB_DOWNLOAD_DEADLINE_SECONDS``, which a server
sending a byte now and then cannot stretch). The temporary file is removed on refusal.
"""

from __future__ import annotations

import http.client
import ipaddress
import shutil
import socket
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from http.client import HTTPException
from pathlib import Path, PurePosixPath
from typing import IO, NoReturn

from hub_kernel.data.io.base import SourceInput, current_settings
from hub_kernel.data.io.progress import Progress
from hub_kernel.exceptions import DataError

URL_TIMEOUT = 30.0  # seconds without progress before a download fails

_ALLOW_HINT = "set HUB_URL_ALLOW_PRIVATE=1 to allow them"


def is_url(value: str) -> bool:
    return value[:8].lower().startswith(("http://", "https://"))


def _address_kind(ip: str) -> str | None:
    """Why ``ip`` may not be downloaded from (None: a public address)."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return "not a unicast public address"
    if address.is_private or not address.is_global:
        return "a private address"
    return None


class _Guard:
    """What one download enforces on every connection: public addresses only (unless
    ``HUB_URL_ALLOW_PRIVATE``), checked on each hop before connecting and against the peer
    once connected, and an overall deadline that shuts the connection's socket down."""

    def __init__(self, shown: str, *, allow_private: bool, deadline: float) -> None:
        self.shown = shown
        self.allow_private = allow_private
        self.deadline = deadline
        self.expired = False
        self.hops = 0
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(deadline, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Guard:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                with suppress(OSError):  # wakes a read blocked on a server that trickles
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def check_url(self, url: str) -> None:
        """Refuse ``url`` (the request, or where a redirect goes) if its host is not public."""
        self.hops += 1
        if self.allow_private:
            return
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, ValueError):
            return  # unresolvable: the connection reports it (or a proxy resolves it)
        for *_, address in found:
            kind = _address_kind(str(address[0]))
            if kind is not None:
                self.refuse(url, str(address[0]), kind)

    def refuse(self, url: str, ip: str, kind: str) -> NoReturn:
        hop = "the URL" if self.hops <= 1 else f"redirect {self.hops - 1} to {public_url(url)}"
        host = urllib.parse.urlsplit(url).hostname or ""
        where = ip if host == ip else f"{host} ({ip})"
        raise DataError(
            self.shown,
            f"refused: {hop} reaches {where}, {kind}; URL ingest does not download from "
            f"private, loopback or link-local addresses ({_ALLOW_HINT})",
        )

    def connected(self, connection: http.client.HTTPConnection, url: str, proxied: bool) -> None:
        """A new connection: watched by the deadline, and its peer checked when direct (a
        name may resolve to another address by the time it is connected to)."""
        sock = connection.sock
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                with suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
        if self.allow_private or proxied:
            return
        peer = str(sock.getpeername()[0])
        kind = _address_kind(peer)
        if kind is not None:
            connection.close()
            self.refuse(url, peer, kind)

    def connection(self, base: type[http.client.HTTPConnection], req: urllib.request.Request
                   ) -> type[http.client.HTTPConnection]:
        """``base`` reporting each connection it makes to this guard."""
        guard, url = self, req.full_url
        proxied = bool(req.has_proxy() or getattr(req, "_tunnel_host", None))

        class Guarded(base):  # type: ignore[valid-type,misc]
            def connect(self) -> None:
                super().connect()
                guard.connected(self, url, proxied)

        return Guarded


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, guard: _Guard) -> None:
        super().__init__()
        self.guard = guard

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self.guard.connection(http.client.HTTPConnection, req), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, guard: _Guard) -> None:
        super().__init__()
        self.guard = guard

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(
            self.guard.connection(http.client.HTTPSConnection, req), req,
            context=getattr(self, "_context", None),
        )


class _RedirectHandler(urllib.request.HTTPRedirectHandler):
    """Redirects as usual, each hop's host checked first."""

    def __init__(self, guard: _Guard) -> None:
        super().__init__()
        self.guard = guard

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
        headers: http.client.HTTPMessage, newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:
            self.guard.check_url(new.full_url)
        return new


def _opener(guard: _Guard) -> urllib.request.OpenerDirector:
    """http(s) only: no file://, ftp:// or data: handlers (redirects to them fail)."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        _HTTPHandler(guard),
        _HTTPSHandler(guard),
        _RedirectHandler(guard),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def _size_limit() -> tuple[int, str]:
    """The largest download, and the setting that sets it."""
    settings = current_settings()
    if settings.download_max_bytes <= settings.max_file_bytes:
        return settings.download_max_bytes, "HUB_DOWNLOAD_MAX_BYTES"
    return settings.max_file_bytes, "HUB_MAX_FILE_BYTES"


def download_to_temp(
    url: str, stack: ExitStack, *, name: str | None, progress: bool, timeout: float
) -> SourceInput:
    """Download ``url`` into a temporary file (removed with ``stack``).

    Refused: a host that is not public, on any hop (unless ``HUB_URL_ALLOW_PRIVATE``); more
    than ``HUB_DOWNLOAD_MAX_BYTES`` (or ``HUB_MAX_FILE_BYTES``), declared or received; longer
    than ``HUB_DOWNLOAD_DEADLINE_SECONDS`` in all; ``timeout`` seconds without progress.
    """
    shown = public_url(url)
    settings = current_settings()
    limit, setting = _size_limit()
    deadline = settings.download_deadline_seconds
    too_big = f"is larger than the limit of {limit:,} bytes (setting {setting})"
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hub-download-")))
    target = folder / "download"
    url, authorization = _without_userinfo(url)
    request = urllib.request.Request(  # noqa: S310 - the scheme is http(s), checked by the caller
        url, headers={"User-Agent": "hub", "Accept-Encoding": "identity"}
    )
    if authorization is not None:  # never sent on to where a redirect points
        request.add_unredirected_header("Authorization", authorization)
    guard = _Guard(shown, allow_private=settings.url_allow_private, deadline=deadline)
    try:
        with guard:
            guard.check_url(url)
            with (
                _opener(guard).open(request, timeout=min(timeout, deadline)) as response,
                open(target, "wb") as out,
            ):
                declared = response.headers.get("Content-Length", "")
                total = int(declared) if declared.strip().isdigit() else None
                if total is not None and total > limit:
                    raise DataError(shown, too_big)
                free = shutil.disk_usage(folder).free
                if total is not None and total > free:
                    raise DataError(shown, f"is {total:,} bytes, more than the {free:,} bytes "
                                           f"free in {folder.parent} (set TMPDIR elsewhere)")
                media_type = (response.headers.get("Content-Type") or "").split(";")[0]
                final_url = response.geturl()
                received = 0
                with Progress(total, shown, progress) as bar:
                    while chunk := response.read1(1 << 20):
                        received += len(chunk)
                        if received > limit:
                            raise DataError(shown, f"{too_big}; download stopped")
                        out.write(chunk)
                        bar.set(received)
                if guard.expired:
                    raise TimeoutError
                if total is not None and received < total:
                    raise DataError(shown, f"cannot be downloaded: the connection closed after "
                                           f"{received:,} of {total:,} bytes")
    except DataError:
        target.unlink(missing_ok=True)
        raise
    except Exception as exc:
        target.unlink(missing_ok=True)
        if guard.expired:
            raise DataError(
                shown, f"cannot be downloaded: not finished within the deadline of {deadline:g} s "
                "(setting HUB_DOWNLOAD_DEADLINE_SECONDS); download stopped",
            ) from None
        if isinstance(exc, urllib.error.HTTPError):
            raise DataError(shown, f"cannot be downloaded: HTTP {exc.code} {exc.reason}") from None
        if isinstance(exc, urllib.error.URLError):
            raise DataError(shown, f"cannot be downloaded: {exc.reason}") from None
        if isinstance(exc, OSError | HTTPException | ValueError):
            raise DataError(
                shown, f"cannot be downloaded: {type(exc).__name__}: {exc}"
            ) from None
        raise
    path_name = PurePosixPath(urllib.parse.unquote(urllib.parse.urlparse(final_url).path)).name
    return SourceInput(
        label=shown,
        name=name or path_name,
        path=target,
        media_type=media_type.strip().lower() or None,
    )


def _without_userinfo(url: str) -> tuple[str, str | None]:
    """``url`` without its ``user:password@`` part, and that part as an HTTP Basic
    ``Authorization`` value (``None`` without one): http.client cannot take it in the URL
    (and its error would quote the password)."""
    import base64

    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.netloc.rpartition("@")[2]
    user = urllib.parse.unquote(parts.username or "")
    password = urllib.parse.unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return urllib.parse.urlunsplit(parts._replace(netloc=host)), f"Basic {token}"


def public_url(url: str) -> str:
    """``url`` without credentials or query string (which may carry tokens): safe to show."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


@contextmanager
def downloaded(url: str, *, progress: bool = False,
               timeout: float = URL_TIMEOUT) -> Iterator[tuple[Path, str]]:
    """Download ``url`` to a temporary file for the ``with`` block; yields (path, file name)."""
    with ExitStack() as stack:
        source = download_to_temp(url, stack, name=None, progress=progress, timeout=timeout)
        assert source.path is not None
        yield source.path, source.name
