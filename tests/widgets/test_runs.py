"""The run-history tile, without a kernel: table, escaping, links, the inline notebook view."""

from __future__ import annotations

from pathlib import Path

from hub_kernel.schedule.history import RunHistory, RunRecord
from widgets.runs import (
    RunHistoryTile,
    file_link,
    format_duration,
    run_view_html,
    runs_table_html,
)

HOSTILE = "<script>alert(1)</script>"


def record(tmp_path: Path, **changes) -> RunRecord:
    html = tmp_path / "run.html"
    html.write_text("<html><body><p>it's <b>done</b></p></body></html>")
    (tmp_path / "run.ipynb").write_text("{}")
    values = {"id": 7, "job": "retrain", "attempt": 1, "trigger": "schedule",
              "status": "succeeded", "outcome": "promoted",
              "started_at": "2026-11-24T08:00:00.000+00:00",
              "finished_at": "2026-11-24T08:00:12.500+00:00", "duration": 12.5,
              "notebook": "retrain.ipynb", "output": str(tmp_path / "run.ipynb"),
              "html": str(html), "summary": {"outcome": "promoted", "reason": "v3 is better"}}
    return RunRecord(**{**values, **changes})


def test_table_shows_status_duration_outcome_links_and_why(tmp_path):
    html = runs_table_html([record(tmp_path)])
    assert "retrain" in html and "2026-11-24 08:00:00" in html and "12.5 s" in html
    assert "hub-run-succeeded" in html and "hub-run-promoted" in html
    assert "v3 is better" in html
    assert f"href='{(tmp_path / 'run.html').resolve().as_uri()}'" in html
    assert f"href='{(tmp_path / 'run.ipynb').resolve().as_uri()}'" in html


def test_failed_runs_show_their_error_and_cell_and_missing_files_no_link(tmp_path):
    failed = record(tmp_path, status="failed", outcome="failed", error="ValueError: boom",
                    error_cell=4, summary=None, html=str(tmp_path / "gone.html"))
    html = runs_table_html([failed])
    assert "hub-run-bad" in html and "ValueError: boom (cell 4)" in html
    assert "gone.html" not in html and "hub-run-link-ipynb" in html
    assert file_link(failed, "html") is None
    assert "No HTML copy of run 7" in run_view_html(failed)


def test_everything_shown_is_escaped(tmp_path):
    hostile = record(tmp_path, job=HOSTILE, outcome=HOSTILE, error=HOSTILE, status="failed",
                     summary={"reason": HOSTILE})
    html = runs_table_html([hostile], link_for=lambda r, kind: f"x' onclick='{HOSTILE}")
    assert "<script>" not in html and "' onclick='" not in html
    assert "&lt;script&gt;" in html


def test_the_view_shows_the_html_copy_in_a_sandboxed_frame(tmp_path):
    view = run_view_html(record(tmp_path))
    assert "<iframe class='hub-run-view' sandbox=''" in view
    assert "srcdoc='&lt;html&gt;&lt;body&gt;&lt;p&gt;it&#x27;s &lt;b&gt;done" in view


def test_durations_read_well():
    assert [format_duration(s) for s in (None, 0.84, 59.94, 61, 3725)] == [
        "–", "0.8 s", "59.9 s", "1 min 1 s", "1 h 2 min"]


def test_the_tile_reads_the_history_refreshes_and_shows_a_run(tmp_path):
    history = RunHistory(tmp_path / "history.db")
    tile = RunHistoryTile(history)
    assert "hub-runs" in tile._dom_classes and "No scheduled runs yet" in tile.table_html
    assert tile._picker.disabled
    run_id = history.start(job="nightly", notebook="n.ipynb", parameters={"x": 1},
                           trigger="schedule")
    output = tmp_path / "out.html"
    output.write_text("<p>executed</p>")
    history.finish(run_id, status="succeeded", outcome="held", html=str(output))
    other = history.start(job="other", notebook="o.ipynb", parameters={}, trigger="manual")
    history.finish(other, status="failed", outcome="failed", error="KeyError: 'x'",
                   error_cell=2)
    tile.refresh()
    assert "nightly" in tile.table_html and "held" in tile.table_html
    assert "KeyError: &#x27;x&#x27; (cell 2)" in tile.table_html
    assert [value for _, value in tile._picker.options] == [other, run_id]  # newest first
    tile.show_run(run_id)
    assert "&lt;p&gt;executed&lt;/p&gt;" in tile.viewer_html
    tile.job = "nightly"  # a trait: the table follows
    assert "other" not in tile.table_html and len(tile.records) == 1
    tile.show_run(None)
    assert tile.viewer_html == ""
