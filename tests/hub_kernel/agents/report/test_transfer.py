"""Transfer between the dashboard agents and the report agent, and the report domain's mode."""

from __future__ import annotations

import pytest

from hub_kernel.agents.common.learner import LearnerStore, TileLearner, tile_attributes
from hub_kernel.agents.plan import analysis_tile
from hub_kernel.agents.report.learner import SectionLearner
from hub_kernel.agents.report.store import FeedbackStore
from hub_kernel.agents.report.transfer import REPORT_SURFACE, TILE_LEARNER, TileTransfer


def dashboard_feedback(store: LearnerStore, analysis: str, reward: float, n: int,
                       user: str = "ann") -> None:
    """``n`` pieces of feedback on the tile of ``analysis`` as a dashboard records them: the
    tile's attributes in its slot, for its viewer, into the shared learner."""
    tile = analysis_tile(analysis, analysis.title())
    hasher = TileLearner()
    X = [hasher.vector(tile_attributes(tile, slot=3, user=user, skill="analyst",
                                       profile_vector=(0.4, 1.0, 0.2)))] * n
    store.update(TILE_LEARNER, X, [reward] * n)


@pytest.fixture
def stores(tmp_path):
    return FeedbackStore(tmp_path / "reports.db"), LearnerStore(tmp_path / "events.db")


def learner_on(stores, **kw) -> SectionLearner:
    feedback, _ = stores
    return SectionLearner(feedback, epsilon=0.0, seed=0, audit=False, **kw)


def test_dashboard_feedback_on_analysis_tiles_moves_the_matching_sections(stores):
    _, tiles = stores
    before = learner_on(stores).posteriors("analyst")
    dashboard_feedback(tiles, "trend", 1.0, 6)  # thumbs up on trend tiles
    dashboard_feedback(tiles, "clustering", 0.0, 6)  # thumbs down on clustering tiles
    after = learner_on(stores).posteriors("analyst")
    assert after["trends"].mean > before["trends"].mean + 0.02
    assert after["clusters"].mean < before["clusters"].mean - 0.02
    # sections no dashboard tile tells are left as they were
    for section in ("key_findings", "drift", "fairness", "validation"):
        assert after[section].mean == pytest.approx(before[section].mean)


def test_report_feedback_reaches_the_tile_learner_marked_as_a_report(stores):
    _, tiles = stores
    learner = learner_on(stores)
    tile = analysis_tile("correlations", "Correlations")
    x = TileLearner().vector(tile_attributes(tile, slot=2, user="ann"))
    start = float(tiles.load(TILE_LEARNER).mean(x)[0])
    for _ in range(4):
        learner.feedback("analyst", "correlations", "thumbs_up", user="ann")
    learned = tiles.load(TILE_LEARNER)
    assert learned.n == pytest.approx(4)
    assert float(learned.mean(x)[0]) > start  # the dashboard's correlations tile gains
    marked = TileLearner().vector({REPORT_SURFACE: 1.0})
    assert float(learned.mean(marked)[0]) > float(TileLearner().mean(marked)[0])


def test_only_deliberate_feedback_on_sections_with_tiles_is_sent(stores):
    _, tiles = stores
    learner = learner_on(stores)
    learner.feedback("analyst", "correlations", "time", 30.0)  # reading time: not a verdict
    learner.feedback("analyst", "correlations", "collapse", 20.0)  # read, then closed
    learner.feedback("analyst", "drift", "thumbs_up")  # no dashboard tile tells drift
    assert tiles.load(TILE_LEARNER).n == 0
    learner.feedback("analyst", "correlations", "collapse", 1.0)  # closed within seconds
    assert tiles.load(TILE_LEARNER).n == pytest.approx(1)
    transfer = TileTransfer(tiles)
    assert transfer.shifts(["correlations"])["correlations"] < 0


def test_dashboard_thumbs_down_through_the_controller_lowers_the_section(hub_home):
    """The whole path: a viewer thumbs down a dashboard's clustering tile (the controller
    records it into the shared learner); the next report's prior for clusters is lower.
    Needs the controller's learning (another helper's work)."""
    from hub_kernel.agents.controller import MetaController
    from hub_kernel.agents.plan import dashboard_id
    from hub_kernel.data import load_dataset
    from hub_kernel.data.profile import profile_dataset

    frame = load_dataset()
    profile = profile_dataset(frame)
    controller = MetaController()
    board = dashboard_id(frame)
    plan = controller.plan(profile, user="ann", dashboard=board)
    tile = next(t.id for t in plan.layout if t.kind.startswith("analysis-"))
    kind = plan.layout[tile].kind
    section = {"analysis-clustering": "clusters", "analysis-trend": "trends",
               "analysis-summary": "overview", "analysis-segments": "differences",
               "analysis-correlations": "correlations",
               "analysis-distributions": "distributions",
               "analysis-outliers": "data_quality"}.get(kind, "clusters")
    before = SectionLearner(epsilon=0.0, audit=False).posteriors("analyst")[section].mean
    session = controller.open(plan.layout, user="ann", dashboard=board, profile=profile)
    for _ in range(3):
        session.interact(tile, "thumbs_down")
    after = SectionLearner(epsilon=0.0, audit=False).posteriors("analyst")[section].mean
    assert after < before


# -- governance -------------------------------------------------------------------------------
def _reader_loves_drift(learner: SectionLearner) -> None:
    for _ in range(30):
        learner.feedback("executive", "drift", "thumbs_up")
        learner.feedback("executive", "trends", "thumbs_down")


def test_assisted_mode_keeps_the_default_sections_and_proposes_the_learned_ones(stores):
    learner = learner_on(stores)
    default = learner.choose("executive", mode="supervised").sections
    _reader_loves_drift(learner)
    kept = learner.choose("executive", mode="assisted")
    assert kept.sections == default and "drift" not in kept.sections
    assert "drift" in kept.proposed and "trends" not in kept.proposed
    assert kept.mode == "assisted" and not kept.explored
    assert "assisted mode" in kept.explanation and "proposes" in kept.explanation
    applied = learner.choose("executive", mode="supervised")
    assert applied.sections == kept.proposed and applied.proposed == ()


def test_autonomous_reports_apply_only_within_the_autonomous_domains(stores, hub_home,
                                                                      monkeypatch):
    from hub_kernel.core import config

    learner = learner_on(stores)
    _reader_loves_drift(learner)
    monkeypatch.setenv("HUB_AUTONOMOUS_DOMAINS", '["layout"]')
    config.reload_settings()
    held = learner.choose("executive", mode="autonomous")
    assert "drift" not in held.sections and "drift" in held.proposed
    assert "not in HUB_AUTONOMOUS_DOMAINS" in held.explanation
    monkeypatch.setenv("HUB_AUTONOMOUS_DOMAINS", '["layout", "report"]')
    config.reload_settings()
    assert "drift" in learner.choose("executive", mode="autonomous").sections


def test_the_mode_set_for_everyone_governs_reports_and_is_audited(hub_home):
    from hub_kernel.safety.audit import AuditLog
    from hub_kernel.safety.modes import Controls

    learner = SectionLearner(epsilon=0.0, seed=0)  # the product's stores, under HUB_HOME
    _reader_loves_drift(learner)
    proposed = learner.choose("executive")  # HUB_AUTONOMY_MODE is assisted by default
    assert "drift" in proposed.proposed
    Controls().set_mode("supervised")
    applied = learner.choose("executive")
    assert applied.mode == "supervised" and "drift" in applied.sections
    entries = {e.id: e for e in AuditLog().entries(agent="report")}
    assert entries[proposed.audit_id].mode == "assisted"
    assert "proposes" in entries[proposed.audit_id].explanation
    assert entries[applied.audit_id].mode == "supervised"
