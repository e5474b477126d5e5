"""Dwell time and clicks per tile, measured in the browser.

A small anywidget: an ``IntersectionObserver`` in the page watches the dashboard's tiles and
adds up, per tile, the time at least half of it is on screen while the page is visible; every
few seconds (and when the page is hidden) it sends the totals to the kernel, with the clicks on
each tile; when the page is left (``pagehide``) it says so, and the dashboard ends the round.
It also times, once per tile body, how long the page took from the tile (or, for a
body replaced later, the new body) appearing to its body being drawn (its bokeh canvases
present, no ``.hub-progress`` left). The
dashboard turns them into ``dwell``, ``click`` and ``render`` events.
"""

from __future__ import annotations

import logging
import math
import time
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
  const renders = new Map();        // tile id -> seconds from appearing to drawn, not yet sent
  const appeared = new Map();       // tile element -> ms timestamp it was first seen
  const PREFIX = "hub-tile-id--";
  const idOf = (node) => {
    for (const c of node.classList) if (c.startsWith(PREFIX)) return c.slice(PREFIX.length);
    return null;
  };
  // bokeh draws into shadow roots: look through them for its canvas
  const hasCanvas = (node, depth = 0) => {
    if (node.querySelector("canvas")) return true;
    if (depth > 6) return false;
    for (const el of node.querySelectorAll("*")) {
      if (el.shadowRoot && hasCanvas(el.shadowRoot, depth + 1)) return true;
    }
    return node.shadowRoot ? hasCanvas(node.shadowRoot, depth + 1) : false;
  };
  const drawn = (tile) => {
    if (tile.querySelector(".hub-progress")) return false;
    for (const chart of tile.querySelectorAll(".hub-chart")) if (!hasCanvas(chart)) return false;
    return true;
  };
  const checkDrawn = () => {
    const now = performance.now();
    for (const [tile, since] of appeared) {
      if (!tile.isConnected) { appeared.delete(tile); continue; }
      if (!drawn(tile)) {
        if (now - since > 600000) appeared.delete(tile);  // never drawn: stop looking
        continue;
      }
      const id = idOf(tile);
      if (id) renders.set(id, (now - since) / 1000);
      appeared.delete(tile);
    }
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
  const bodies = new WeakMap();     // tile element -> the body element last seen in it
  const bodyOf = (tile) => {
    const box = tile.querySelector(":scope > .hub-tile-body");
    return box ? box.firstElementChild : null;
  };
  const scan = () => {
    const root = document.querySelector("." + scope);
    if (!root) return;
    for (const tile of root.querySelectorAll(".hub-tile")) {
      const body = bodyOf(tile);
      if (watched.has(tile)) {
        // a new body (another chart type, say) is timed from when it appears; a tile still
        // being timed (its analysis runs) keeps its start
        if (body && body !== bodies.get(tile) && !appeared.has(tile)) {
          appeared.set(tile, performance.now());
        }
        if (body) bodies.set(tile, body);
        continue;
      }
      if (body) bodies.set(tile, body);
      watched.add(tile);
      appeared.set(tile, performance.now());
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
    const render = Object.fromEntries(renders);
    if (Object.keys(dwell).length || Object.keys(clicked).length ||
        Object.keys(render).length) {
      model.send({ dwell, clicks: clicked, render });
    }
    pending.clear();
    clicks.clear();
    renders.clear();
  };
  scan();
  const mutations = new MutationObserver(scan);
  mutations.observe(document.body, { childList: true, subtree: true });
  const timer = setInterval(flush, model.get("interval_ms"));
  // render times go out soon after the tile is drawn, not with the next dwell report
  const drawTimer = setInterval(() => {
    checkDrawn();
    if (renders.size) {
      model.send({ render: Object.fromEntries(renders) });
      renders.clear();
    }
  }, 250);
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
  // leaving the page ends the round: what was measured goes out, then the kernel scores it
  const onLeave = () => { flush(); model.send({ leave: true }); };
  window.addEventListener("pagehide", onLeave);
  return () => {
    flush();
    clearInterval(timer);
    clearInterval(drawTimer);
    observer.disconnect();
    mutations.disconnect();
    document.removeEventListener("visibilitychange", onVisibility);
    window.removeEventListener("pagehide", onLeave);
  };
}
export default { render };
"""

Report = Callable[[str, str, float], None]  # (tile id, kind, value)
MAX_CLICKS = 20  # clicks on one tile in one report period that count
MAX_RENDER_SECONDS = 600.0  # the page stops timing a tile that is not drawn by then
MAX_TILES = 200  # tiles one report may name (a dashboard has a few dozen)


class DwellTracker(anywidget.AnyWidget):
    """Reports ``(tile, "dwell", seconds)``, ``(tile, "click", n)`` and ``(tile, "render",
    seconds)`` for the dashboard whose CSS scope class is ``scope``."""

    _esm = _ESM
    scope = traitlets.Unicode().tag(sync=True)
    interval_ms = traitlets.Int(5000).tag(sync=True)

    def __init__(self, scope: str, report: Report, interval_ms: int = 5000,
                 on_leave: Callable[[], None] | None = None) -> None:
        super().__init__(scope=scope, interval_ms=interval_ms)
        self._report = report
        self._on_leave = on_leave
        self._left_at = -math.inf
        self._period = interval_ms / 1000  # the kernel's own: the page cannot change it
        self._clock = time.monotonic
        started = self._clock()
        #: per (kind, tile): when its budget was last spent, and what is spent this period
        self._spent: dict[tuple[str, str], tuple[float, float]] = {}
        self._started = started
        self.on_msg(self._received)

    def set_state(self, sync_data: dict) -> None:
        """Updates from the page, which may not change what it is told to watch or how
        often it reports."""
        super().set_state({k: v for k, v in sync_data.items()
                           if k not in ("scope", "interval_ms")})

    def _received(self, _widget, content, _buffers) -> None:
        """Messages come from a page anyone may script: only plausible values are kept."""
        if not isinstance(content, dict):
            logger.warning("ignoring a malformed report from the page")
            return
        self._measure(content)
        if content.get("leave") is True and self._on_leave is not None:
            now = self._clock()  # one round end per report period at most
            if now - self._left_at >= self._period:
                self._left_at = now
                self._on_leave()

    def _measure(self, content: dict) -> None:
        for kind, key in (("dwell", "dwell"), ("click", "clicks"), ("render", "render")):
            try:
                items = list(dict(content.get(key) or {}).items())[:MAX_TILES]
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
                allowed = self._allowed(kind, str(tile)[:64], value)
                if allowed > 0:
                    self._report(str(tile)[:64], kind, allowed)

    def _allowed(self, kind: str, tile: str, value: float) -> float:
        """How much of a reported ``value`` counts, bounded on the kernel's clock whatever
        the page sends: a tile's dwell by the time since its last report (at most a report
        period and a second), its clicks by ``MAX_CLICKS`` per period, its render time by one
        report per period."""
        now = self._clock()
        last, spent = self._spent.get((kind, tile), (self._started, 0.0))
        if kind == "dwell":
            allowed = min(value, now - last, self._period + 1)
            self._spent[(kind, tile)] = (now, 0.0)
            return allowed
        if now - last >= self._period:  # a new period: the budget is whole again
            last, spent = now, 0.0
        if kind == "click":
            allowed = min(value, MAX_CLICKS - spent)
        else:
            allowed = min(value, MAX_RENDER_SECONDS) if spent == 0 else 0.0
        self._spent[(kind, tile)] = (last, spent + max(allowed, 0.0) + (kind == "render"))
        return allowed
