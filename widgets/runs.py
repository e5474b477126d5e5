"""The run-history tile: scheduled notebook runs with status, duration and outcome, links to the
executed notebooks, and an inline view of a run's HTML copy.

Links point at the files (``file://`` by default; pass ``link_for`` to map a run to a URL your
server exposes). A browser showing a dashboard over HTTP does not follow ``file://`` links, so the
tile can also show a run's HTML copy itself ("Show notebook"), through the kernel, in a sandboxed
frame where the notebook's scripts do not run. Everything shown is escaped with ``html.escape``;
the HTML is built by plain functions, testable without a kernel.

    from widgets.runs import RunHistoryTile
    RunHistoryTile()              # the newest 20 runs of every job
    RunHistoryTile(job="retrain")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as w
import traitlets as t

from hub_kernel.schedule.history import RunHistory, RunRecord
from widgets.markup import escape

LinkFor = Callable[[RunRecord, str], str | None]
FRAME_HEIGHT = 520
_GOOD = {"succeeded", "promoted", "created", "no-change"}
_WARN = {"held", "proposed", "running", "invalid"}

STYLE = """<style>
.hub-runs table { border-collapse: collapse; font-size: 12px; width: 100%; }
.hub-runs th, .hub-runs td { text-align: left; padding: 2px 6px; border-bottom: 1px solid #f0f0f0;
                             vertical-align: top; }
.hub-run-badge { border-radius: 4px; padding: 0 5px; color: #fff; white-space: nowrap; }
.hub-run-good { background: #4c9a6a; } .hub-run-warn { background: #c08a2d; }
.hub-run-bad { background: #b5485d; }
.hub-run-detail { color: #555; word-break: break-word; }
</style>"""


def file_link(record: RunRecord, kind: str) -> str | None:
    """The default link: a ``file://`` URI of the run's ``html`` or ``ipynb`` copy, if kept."""
    path = record.html if kind == "html" else record.output
    if not path or not Path(path).is_file():
        return None
    return Path(path).resolve().as_uri()


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _badge(label: str) -> str:
    css = "hub-run-good" if label in _GOOD else "hub-run-warn" if label in _WARN else (
        "hub-run-bad")
    return (f"<span class='hub-run-badge {css} hub-run-{escape(_slug(label))}'>"
            f"{escape(label)}</span>")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower())


def _detail(record: RunRecord) -> str:
    if record.error:
        cell = f" (cell {record.error_cell})" if record.error_cell is not None else ""
        return f"{record.error}{cell}"
    if record.summary and record.summary.get("reason"):
        return str(record.summary["reason"])
    return ""


def runs_table_html(records: Sequence[RunRecord], *, link_for: LinkFor | None = None) -> str:
    """A table of ``records``: job, start (UTC), status, duration, outcome, links, detail."""
    if not records:
        return ("<p class='hub-runs-empty'>No scheduled runs yet: <code>hub schedule add NAME "
                "--every 1h</code> and <code>hub scheduler start</code> run notebooks on a "
                "schedule.</p>")
    link_for = link_for or file_link
    rows = []
    for r in records:
        links = []
        for kind, text in (("html", "HTML"), ("ipynb", "notebook")):
            href = link_for(r, kind)
            if href:
                links.append(f"<a href='{escape(href)}' target='_blank' "
                             f"class='hub-run-link hub-run-link-{kind}'>{text}</a>")
        started = r.started_at.replace("T", " ")[:19]
        rows.append(
            f"<tr class='hub-run hub-run-{escape(_slug(r.status))}' data-run='{r.id}'>"
            f"<td>{escape(r.job)}</td><td>{escape(started)}</td>"
            f"<td>{_badge(r.status)}</td><td>{escape(format_duration(r.duration))}</td>"
            f"<td>{_badge(r.label) if r.label != r.status else ''}</td>"
            f"<td>{' · '.join(links) or '–'}</td>"
            f"<td class='hub-run-detail'>{escape(_detail(r))}</td></tr>")
    head = "".join(f"<th>{h}</th>" for h in ("job", "started (UTC)", "status", "duration",
                                             "outcome", "executed notebook", "detail"))
    return (f"<table class='hub-runs-table'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def run_view_html(record: RunRecord, height: int = FRAME_HEIGHT) -> str:
    """The run's HTML copy in a sandboxed frame (no scripts run), or why there is none."""
    path = Path(record.html) if record.html else None
    if path is None or not path.is_file():
        return (f"<p class='hub-run-view-missing'>No HTML copy of run {record.id} of "
                f"{escape(record.job)}.</p>")
    try:
        body = path.read_text(encoding="utf-8")
    except OSError as exc:
        return f"<p class='hub-run-view-missing'>{escape(str(path))}: {escape(str(exc))}</p>"
    anchor = "#papermill-error-cell" if record.status == "failed" else ""
    title = f"run {record.id} of {record.job}{anchor and ' (failing cell marked)'}"
    return (f"<p class='hub-run-view-title'>{escape(title)}: {escape(str(path))}</p>"
            f"<iframe class='hub-run-view' sandbox='' srcdoc='{escape(body)}' "
            f"style='width:100%;height:{int(height)}px;border:1px solid #d7dde5'></iframe>")


def _option(record: RunRecord) -> tuple[str, int]:
    return (f"#{record.id} {record.job} {record.started_at[:19].replace('T', ' ')} "
            f"({record.label})", record.id)


class RunHistoryTile(w.VBox):
    """The newest ``limit`` runs (of ``job``, or of every job), refreshed on demand."""

    job = t.Unicode(None, allow_none=True)
    limit = t.Int(20, min=1)

    def __init__(self, history: RunHistory | None = None, *, job: str | None = None,
                 limit: int = 20, link_for: LinkFor | None = None, **kwargs: Any) -> None:
        self.history = history or RunHistory()
        self.link_for = link_for
        self.records: list[RunRecord] = []
        self._table = w.HTML()
        self._table.add_class("hub-runs-table-box")
        self._picker = w.Dropdown(description="Run", layout=w.Layout(width="auto"))
        self._picker.add_class("hub-runs-picker")
        show = w.Button(description="Show notebook", tooltip="Show the executed notebook")
        show.add_class("hub-runs-show")
        show.on_click(lambda _b: self.show_run(self._picker.value))
        refresh = w.Button(description="Refresh", tooltip="Read the run history again")
        refresh.add_class("hub-runs-refresh")
        refresh.on_click(lambda _b: self.refresh())
        self._viewer = w.HTML()
        self._viewer.add_class("hub-runs-viewer")
        title = w.HTML("<b class='hub-runs-title'>Scheduled runs</b>")
        super().__init__([w.HTML(STYLE), title, self._table,
                          w.HBox([self._picker, show, refresh]), self._viewer], **kwargs)
        self.add_class("hub-runs")
        self._ready = False
        self.job, self.limit = job, limit
        self._ready = True
        self.refresh()

    @t.observe("job", "limit")
    def _changed(self, _change: dict[str, Any]) -> None:
        if getattr(self, "_ready", False):
            self.refresh()

    def refresh(self) -> None:
        """Read the history again and redraw the table."""
        self.records = self.history.runs(self.job, limit=self.limit)
        self._table.value = runs_table_html(self.records, link_for=self.link_for)
        self._picker.options = [_option(r) for r in self.records]
        self._picker.disabled = not self.records

    def show_run(self, run_id: int | None) -> None:
        """Show the HTML copy of run ``run_id`` below the table."""
        record = next((r for r in self.records if r.id == run_id), None)
        self._viewer.value = "" if record is None else run_view_html(record)

    @property
    def table_html(self) -> str:
        return str(self._table.value)

    @property
    def viewer_html(self) -> str:
        return str(self._viewer.value)


__all__ = ["RunHistoryTile", "file_link", "format_duration", "run_view_html", "runs_table_html"]
