"""The report preview: panels report expand, collapse, time and thumbs to the section learner."""

from __future__ import annotations

import pytest

from hub_kernel.agents.report.learner import SectionLearner
from hub_kernel.agents.report.store import FeedbackStore
from hub_kernel.reports.compose import compose_report
from widgets.report_preview import ReportPreview

HOSTILE = "<script>alert(1)</script>"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def frame():
    from hub_kernel.data import load_dataset, sample_path

    frame = load_dataset(sample_path())
    frame[HOSTILE] = frame["temp_max"] * 2
    return frame


@pytest.fixture
def learner(tmp_path):
    return SectionLearner(FeedbackStore(tmp_path / "reports.db"), epsilon=0.0, seed=0,
                          audit=False)


def test_panels_follow_the_report_and_escape_data(frame, learner):
    report = compose_report("data", audience="analyst", frame=frame, learner=learner,
                            sections=["overview", "correlations", "statistics"],
                            title=f"About {HOSTILE}")
    preview = ReportPreview(report, learner=learner)
    assert [p.section.id for p in preview.panels] == ["overview", "correlations", "statistics"]
    assert all(not p.expanded for p in preview.panels)  # collapsed until opened
    html = preview._title.value + "".join(p.panel.children[0].value for p in preview.panels)
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_reader_actions_reach_the_learner_and_change_the_next_report(frame, learner):
    clock = Clock()
    preview = ReportPreview(frame=frame, dataset="data", audience="executive", learner=learner,
                            clock=clock)
    assert preview.panels[0].section.id == "key_findings"
    panel = preview.panels[-1]
    section = panel.section.id
    panel.expand()
    clock.now += 40
    panel.collapse()
    panel.up.click()
    other = preview.panels[1]
    other.expand()
    clock.now += 1
    other.collapse()
    other.down.click()
    assert preview.events == [(section, "expand", 1.0), (section, "collapse", 40.0),
                              (section, "time", 40.0), (section, "thumbs_up", 1.0),
                              (other.section.id, "expand", 1.0),
                              (other.section.id, "collapse", 1.0),
                              (other.section.id, "time", 1.0),
                              (other.section.id, "thumbs_down", 1.0)]
    assert preview.n_feedback == 8
    stored = learner.store.events("executive")
    assert [(s, k) for s, k, _ in stored] == [(s, k) for s, k, _ in preview.events]
    posts = learner.posteriors("executive")
    before = SectionLearner(FeedbackStore(learner.store.path.with_name("x.db")),
                            audit=False).posteriors("executive")
    assert posts[section].mean > before[section].mean
    assert posts[other.section.id].mean < before[other.section.id].mean


def test_open_panels_report_their_time_on_flush_and_audience_switch(frame, learner):
    clock = Clock()
    preview = ReportPreview(frame=frame, dataset="data", audience="executive", learner=learner,
                            clock=clock)
    preview.panels[0].expand()
    clock.now += 12
    preview._picker.value = "technical"  # recomposes for technical readers
    assert ("key_findings", "time", 12.0) in preview.events
    assert preview.audience == "technical" and preview.report.audience == "technical"
    assert "drift" in [p.section.id for p in preview.panels]


def test_report_panel_composes_on_first_open_and_follows_new_data(hub_home):
    import numpy as np
    import pandas as pd

    from widgets import Dashboard
    from widgets.report_preview import ReportPanel

    dashboard = Dashboard.from_path(None, user="ann")
    panel = ReportPanel(dashboard)
    assert panel.preview is None  # nothing composed until someone opens it
    panel.selected_index = 0
    assert panel.preview is not None and panel.preview.report is not None
    first = panel.preview.report.title
    rng = np.random.default_rng(0)
    dashboard.set_data(pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)}),
                       title="other.csv")
    assert panel.preview is not None and panel.preview.report.title != first
