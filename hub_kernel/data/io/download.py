"""http(s) downloads into a temporary file, within ``HUB_MAX_FILE_BYTES``; URLs made safe to show.
"""

from __future__ import annotations

import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.client import HTTPException
from pathlib import Path, PurePosixPath

from hub_kernel.data.io.base import SourceInput, current_settings
from hub_kernel.data.io.progress import Progress
from hub_kernel.exceptions import DataError

URL_TIMEOUT = 30.0  # seconds without progress before a download fails


def is_url(value: str) -> bool:
    return value[:8].lower().startswith(("http://", "https://"))


def _opener() -> urllib.request.OpenerDirector:
    """http(s) only: no file://, ftp:// or data: handlers (redirects to them fail)."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def download_to_temp(
    url: str, stack: ExitStack, *, name: str | None, progress: bool, timeout: float
) -> SourceInput:
    """Download ``url`` into a temporary file, enforcing ``HUB_MAX_FILE_BYTES`` as it comes."""
    shown = public_url(url)
    limit = current_settings().max_file_bytes
    too_big = f"is larger than the limit of {limit:,} bytes (setting HUB_MAX_FILE_BYTES)"
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hub-download-")))
    target = folder / "download"
    request = urllib.request.Request(  # noqa: S310 - the scheme is http(s), checked by the caller
        url, headers={"User-Agent": "hub", "Accept-Encoding": "identity"}
    )
    try:
        with _opener().open(request, timeout=timeout) as response, open(target, "wb") as out:
            declared = response.headers.get("Content-Length", "")
            total = int(declared) if declared.strip().isdigit() else None
            if total is not None and total > limit:
                raise DataError(shown, too_big)
            media_type = (response.headers.get("Content-Type") or "").split(";")[0]
            final_url = response.geturl()
            received = 0
            with Progress(total, shown, progress) as bar:
                while chunk := response.read(1 << 20):
                    received += len(chunk)
                    if received > limit:
                        raise DataError(shown, f"{too_big}; download stopped")
                    out.write(chunk)
                    bar.set(received)
    except DataError:
        raise
    except urllib.error.HTTPError as exc:
        raise DataError(shown, f"cannot be downloaded: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DataError(shown, f"cannot be downloaded: {exc.reason}") from None
    except (OSError, HTTPException, ValueError) as exc:
        raise DataError(shown, f"cannot be downloaded: {type(exc).__name__}: {exc}") from None
    path_name = PurePosixPath(urllib.parse.unquote(urllib.parse.urlparse(final_url).path)).name
    return SourceInput(
        label=shown,
        name=name or path_name,
        path=target,
        media_type=media_type.strip().lower() or None,
    )


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
