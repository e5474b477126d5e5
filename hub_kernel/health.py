"""``/hub/health`` of a served dashboard, for load balancers: the ``hub doctor`` checks as JSON,
HTTP 200 when none fails and 503 otherwise.

The answer holds each check's name, status and detail with local paths replaced by where they
are (``HUB_HOME``, the runs folder) and credentials removed: no secret, no data. Checks start a
kernel, so results are cached for ``CACHE_SECONDS`` and computed off the server's event loop;
one computation at a time however many probes arrive.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler

from hub_kernel.core.config import Settings, get_settings
from hub_kernel.core.redact import redact_text
from hub_kernel.doctor import Check, run_checks

CACHE_SECONDS = 30.0
_lock = threading.Lock()
_cache: tuple[float, int, dict[str, Any]] | None = None


def health_report(settings: Settings | None = None) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of the doctor checks now, without paths or secrets."""
    settings = settings or get_settings()
    checks = run_checks(settings)
    failed = [c.name for c in checks if c.status == "fail"]
    body = {"status": "fail" if failed else "ok", "failed": failed,
            "checks": [_public(c, settings) for c in checks],
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return (503 if failed else 200), body


def cached_health_report(max_age: float = CACHE_SECONDS) -> tuple[int, dict[str, Any]]:
    """``health_report``, reused while younger than ``max_age`` seconds."""
    global _cache
    with _lock:
        if _cache is None or time.monotonic() - _cache[0] > max_age:
            status, body = health_report()
            _cache = (time.monotonic(), status, body)
        return _cache[1], _cache[2]


def _public(check: Check, settings: Settings) -> dict[str, str]:
    detail = redact_text(check.detail)
    for path, name in ((settings.runs_dir, "the runs folder"), (settings.home, "HUB_HOME")):
        for form in {str(path), str(path.resolve())}:
            detail = detail.replace(form, name)
    return {"name": check.name, "status": check.status, "detail": detail}


class HealthHandler(JupyterHandler):
    """GET ``/hub/health``: no credential needed (probes have none); the host check of
    ``voila_app`` applies as to every request."""

    def check_xsrf_cookie(self) -> None:  # GET only; nothing to forge
        return None

    @allow_unauthenticated
    async def get(self) -> None:
        status, body = await asyncio.get_running_loop().run_in_executor(
            None, cached_health_report)
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))
