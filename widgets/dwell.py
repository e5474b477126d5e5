"""Dwell time and clicks per tile, measured in the browser.

A small anywidget: an ``IntersectionObserver`` in the page watches the dashboard's tiles and
adds up, per tile, the time at least half of it is on screen while the page is visible; every
few seconds (and when the page is hidden) it sends the totals to the kernel, with the clicks on
each tile. The dashboard turns them into ``dwell`` and ``click`` events.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import anywidget
import traitlets

logger = logging.getLogger("hub_kernel")

_ESM = r"""
function render({ model, el }) {
  el.style.display = "none";
  const scope = model.get("scope");
  const visibleSince = new Map();   // tile id -> ms timestamp when it became visible
  const pending = new Map();        // tile id -> ms of dwell not yet sent
  const clicks = new Map();
  const idOf = (node) => {
    for (const c of node.classList) if (c.startsWith("hub-tile--")) return c.slice(10);
    return null;
  };
  const settle = (id, now) => {
    const since = visibleSince.get(id);
    if (since !== undefined) {
      pending.set(id, (pending.get(id) || 0) + (now - since));
      visibleSince.set(id, now);
    }
  };
  const observer = new IntersectionObserver((entries) => {
    const now = performance.now();
    for (const entry of entries) {
      const id = idOf(entry.target);
      if (!id) continue;
      if (entry.isIntersecting && !document.hidden) {
        if (!visibleSince.has(id)) visibleSince.set(id, now);
      } else {
        settle(id, now);
        visibleSince.delete(id);
      }
    }
  }, { threshold: 0.5 });
  const watched = new WeakSet();
  const scan = () => {
    const root = document.querySelector("." + scope);
    if (!root) return;
    for (const tile of root.querySelectorAll(".hub-tile")) {
      if (watched.has(tile)) continue;
      watched.add(tile);
      observer.observe(tile);
      tile.addEventListener("click", (event) => {
        if (event.target.closest("button")) return;  // buttons report their own action
        const id = idOf(tile);
        if (id) clicks.set(id, (clicks.get(id) || 0) + 1);
      });
    }
  };
  const flush = () => {
    const now = performance.now();
    for (const id of visibleSince.keys()) settle(id, now);
    const dwell = {};
    for (const [id, ms] of pending) if (ms >= 250) dwell[id] = ms / 1000;
    const clicked = Object.fromEntries(clicks);
    if (Object.keys(dwell).length || Object.keys(clicked).length) {
      model.send({ dwell, clicks: clicked });
    }
    pending.clear();
    clicks.clear();
  };
  scan();
  const mutations = new MutationObserver(scan);
  mutations.observe(document.body, { childList: true, subtree: true });
  const timer = setInterval(flush, model.get("interval_ms"));
  const onVisibility = () => {
    if (document.hidden) {
      flush();
      visibleSince.clear();  // a hidden tab is not being looked at
    } else {
      // restart timing for what is on screen: re-observing reports the current state
      for (const tile of document.querySelectorAll("." + scope + " .hub-tile")) {
        observer.unobserve(tile);
        observer.observe(tile);
      }
    }
  };
  document.addEventListener("visibilitychange", onVisibility);
  return () => {
    flush();
    clearInterval(timer);
    observer.disconnect();
    mutations.disconnect();
    document.removeEventListener("visibilitychange", onVisibility);
  };
}
export default { render };
"""

Report = Callable[[str, str, float], None]  # (tile id, kind, value)
MAX_CLICKS = 20  # clicks on one tile in one report period that count


class DwellTracker(anywidget.AnyWidget):
    """Reports ``(tile, "dwell", seconds)`` and ``(tile, "click", n)`` for the dashboard
    whose CSS scope class is ``scope``."""

    _esm = _ESM
    scope = traitlets.Unicode().tag(sync=True)
    interval_ms = traitlets.Int(5000).tag(sync=True)

    def __init__(self, scope: str, report: Report, interval_ms: int = 5000) -> None:
        super().__init__(scope=scope, interval_ms=interval_ms)
        self._report = report
        self.on_msg(self._received)

    def _received(self, _widget, content, _buffers) -> None:
        """Messages come from a page anyone may script: only plausible values are kept."""
        limit = self.interval_ms / 1000 + 1  # no tile is on screen longer than a report period
        for kind, key, cap in (("dwell", "dwell", limit), ("click", "clicks", MAX_CLICKS)):
            try:
                items = dict(content.get(key) or {}).items()
            except (TypeError, ValueError, AttributeError):
                logger.warning("ignoring a malformed %s report from the page", kind)
                continue
            for tile, raw in items:
                try:
                    value = float(raw)
                except (TypeError, ValueError):
                    logger.warning("ignoring a %s value that is not a number", kind)
                    continue
                if not math.isfinite(value) or value <= 0:
                    continue
                self._report(str(tile)[:64], kind, min(value, cap))
