"""What the agents plan for a dashboard, and how feedback through a session changes it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hub_kernel.agents.common.events import EventStore
from hub_kernel.agents.controller import MetaController
from hub_kernel.agents.layout.design import DesignAgent
from hub_kernel.agents.plan import dashboard_id
from hub_kernel.data import profile_dataset, sample_path
from hub_kernel.data.io.read import read_table
from hub_kernel.safety.audit import AuditLog
from hub_kernel.safety.governor import layout_key
from hub_kernel.safety.modes import Controls


def analyses(plan) -> list[str]:
    return [t.analysis for t in plan.layout if t.analysis]


def no_dates(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"height": rng.normal(170, 10, n), "weight": rng.normal(70, 8, n),
                         "team": rng.choice(["a", "b", "c"], n)})


@pytest.fixture
def sample():
    frame = read_table(sample_path())
    return frame, profile_dataset(frame)


def test_two_datasets_get_different_analysis_tiles(hub_home, sample):
    frame, profile = sample
    controller = MetaController()
    on_sample = controller.plan(profile, user="ann", dashboard=dashboard_id(frame))
    other = no_dates()
    on_other = controller.plan(profile_dataset(other), user="ann", dashboard=dashboard_id(other))
    assert "trend" in analyses(on_sample) and "trend" not in analyses(on_other)
    assert set(analyses(on_sample)) != set(analyses(on_other))
    # no target: the agent proposes some, never an id or a constant
    assert on_other.target_choices and set(on_other.target_choices) <= {"height", "weight",
                                                                           "team"}


def test_every_strategy_decision_is_audited_with_its_propensity_and_dashboard(hub_home,
                                                                               sample):
    frame, profile = sample
    dashboard = dashboard_id(frame)
    plan = MetaController().plan(profile, user="ann", dashboard=dashboard)
    key = layout_key("ann", dashboard)
    rows = {r.id: r for r in AuditLog().entries(agent="strategy")}
    for planned in plan.tiles.values():
        if planned.agent != "strategy" or planned.tile.kind == "model":
            continue
        row = rows[planned.decision_id]
        assert row.action == f"show:{planned.tile.analysis} for {key}"
        assert 0 < row.propensity <= 1 and row.propensity == pytest.approx(planned.propensity)
    assert all(r.action.endswith(f" for {key}") and 0 < r.propensity <= 1
               for r in rows.values())


def test_with_a_target_the_model_tile_stands_for_the_supervised_model(hub_home):
    frame = no_dates()
    plan = MetaController().plan(profile_dataset(frame), user="ann",
                                 dashboard=dashboard_id(frame, "weight"), target="weight")
    kinds = [t.kind for t in plan.layout]
    assert "model" in kinds and "analysis-supervised_model" not in kinds
    assert "feature_importance" in analyses(plan)
    assert plan.target_choices == []


def test_thumbs_down_twice_on_an_analysis_removes_it_for_that_user_only(hub_home):
    Controls().set_mode("autonomous")
    frame = no_dates()
    profile, dashboard = profile_dataset(frame), dashboard_id(frame)
    controller = MetaController(agent=DesignAgent(seed=0))
    first = controller.plan(profile, user="ann", dashboard=dashboard, seed=0)
    victim = next(t for t in first.layout if t.analysis == "correlations")
    session = controller.open(first.layout, user="ann", dashboard=dashboard, profile=profile)
    session.interact(victim.id, "thumbs_down")
    session.interact(victim.id, "thumbs_down")
    again = controller.plan(profile, user="ann", dashboard=dashboard, seed=0)
    assert "correlations" not in analyses(again)
    assert "correlations" in again.skipped
    skip = AuditLog().entries(agent="strategy")[-len(again.skipped) - 4:]
    assert any(r.action == f"skip:correlations for {layout_key('ann', dashboard)}"
               for r in skip)
    # another person on the same data still gets it, and with the same kinds of tile
    bob = controller.plan(profile, user="bob", dashboard=dashboard, seed=0)
    assert "correlations" in analyses(bob)
    assert {t.kind for t in bob.layout} == {t.kind for t in first.layout}


def test_a_pinned_analysis_tile_is_never_dropped(hub_home):
    Controls().set_mode("autonomous")
    frame = no_dates()
    profile, dashboard = profile_dataset(frame), dashboard_id(frame)
    controller = MetaController(agent=DesignAgent(seed=0))
    first = controller.plan(profile, user="ann", dashboard=dashboard, seed=0)
    tile = next(t for t in first.layout if t.analysis == "outliers")
    session = controller.open(first.layout, user="ann", dashboard=dashboard, profile=profile)
    session.governor.layout.pin(tile.id)
    for _ in range(3):
        session.interact(tile.id, "thumbs_down")
    session.relayout()
    again = controller.plan(profile, user="ann", dashboard=dashboard, seed=0, budget_seconds=0)
    assert "outliers" in analyses(again)  # pinned: kept even with no compute budget left
    assert again.layout.slot_of(tile.id) == session.layout.slot_of(tile.id)


def test_dashboard_events_and_a_completed_task_reach_the_stored_reward(hub_home):
    frame = no_dates()
    profile, dashboard = profile_dataset(frame), dashboard_id(frame)
    controller = MetaController()
    plan = controller.plan(profile, user="ann", dashboard=dashboard)
    session = controller.open(plan.layout, user="ann", dashboard=dashboard, profile=profile)
    tile = plan.layout.ids[0]
    session.interact(tile, "dwell", 6.0)
    session.interact(tile, "compute", 0.5)
    session.interact(tile, "task_done")
    session.interact("dashboard", "rating", 5)
    session.record_quality(tile, 0.9)
    session.relayout()
    row = EventStore().reward_rows(user="ann")[-1]
    assert row["terms"]["task_completion"] == 1.0
    assert row["terms"]["satisfaction"] > 0.5 and 0 < row["terms"]["efficiency"] < 1
    assert row["reward"] == pytest.approx(controller.reward(row["terms"]))
    with pytest.raises(Exception, match="unknown interaction kind"):
        session.interact(tile, "liked")
    with pytest.raises(Exception, match="between 0 and 1"):
        session.record_quality(tile, 1.5)


def test_exploration_is_unchanged_by_dwell_events(hub_home):
    frame = no_dates()
    profile, dashboard = profile_dataset(frame), dashboard_id(frame)
    controller = MetaController()
    plan = controller.plan(profile, user="ann", dashboard=dashboard)
    session = controller.open(plan.layout, user="ann", dashboard=dashboard, profile=profile)
    before = controller.exploration("ann", "supervised")
    for tile in plan.layout.ids:
        session.interact(tile, "dwell", 30.0)
    assert controller.exploration("ann", "supervised") == before


def test_an_analysis_measured_as_slow_is_left_out_of_a_tight_budget(hub_home):
    frame = no_dates()
    profile, dashboard = profile_dataset(frame), dashboard_id(frame)
    controller = MetaController()
    plan = controller.plan(profile, user="ann", dashboard=dashboard, seed=0)
    assert "clustering" in analyses(plan)
    session = controller.open(plan.layout, user="ann", dashboard=dashboard, profile=profile)
    session.interact(plan.layout.ids[plan.layout.ids.index("an-clustering")], "compute", 40.0)
    again = controller.plan(profile, user="bob", dashboard=dashboard, seed=0,
                            budget_seconds=10.0)
    assert "clustering" not in analyses(again) and "clustering" in again.skipped
    assert "summary" in analyses(again)  # the cheap ones still fit
    row = [r for r in AuditLog().entries(agent="strategy")
           if r.action == f"skip:clustering for {layout_key('bob', dashboard)}"][-1]
    assert "budget" in row.explanation and 0 < row.propensity <= 1


def test_in_assisted_mode_a_returning_users_analyses_stay_and_changes_are_proposals(hub_home):
    """The analysis domain follows the autonomy mode: where the agent may only propose, the
    analyses a person had stay and the agent's other choices are audited as proposals."""
    Controls().set_mode("assisted")
    frame = no_dates()
    profile, dashboard = profile_dataset(frame), dashboard_id(frame)
    controller = MetaController()
    first = controller.plan(profile, user="ann", dashboard=dashboard)
    controller.open(first.layout, user="ann", dashboard=dashboard, profile=profile)  # stored
    kept = set(analyses(first))
    # what the agent would choose now differs (a tight budget leaves most analyses out)
    again = controller.plan(profile, user="ann", dashboard=dashboard, budget_seconds=0.0)
    assert set(analyses(again)) == kept
    key = layout_key("ann", dashboard)
    proposed = [e for e in AuditLog().entries(agent="strategy")
                if e.action.startswith("propose skip:") and e.action.endswith(f"for {key}")]
    assert proposed and all(e.propensity is not None for e in proposed)
    # the held-back changes are one proposal a person can approve (the dashboard's banner)
    assert again.proposed is not None and "take away" in again.proposed_why
    assert set(again.layout.ids) > set(again.proposed.ids)
    assert again.to_dict()["proposed"]["remove"]
    Controls().set_mode("supervised")  # where the mode applies analysis changes, they apply
    assert set(analyses(controller.plan(profile, user="ann", dashboard=dashboard,
                                        budget_seconds=0.0))) < kept


def test_a_plug_in_whose_name_cannot_be_a_tile_kind_is_left_out_not_fatal(hub_home, caplog):
    from hub_kernel.analyses import Analysis, analysis_registry

    class RevenueCheck(Analysis):
        name = "RevenueCheck"
        title = "Revenue check"

        def _run(self, frame, profile, *, target=None):
            return self.result()

    analysis_registry.register(RevenueCheck)
    try:
        frame = no_dates()
        plan = MetaController().plan(profile_dataset(frame), user="ann",
                                     dashboard=dashboard_id(frame))
    finally:
        analysis_registry.unregister("RevenueCheck")
    assert "RevenueCheck" not in analyses(plan) and analyses(plan)
    assert "cannot be shown as a tile" in caplog.text


def test_a_decision_the_budget_forces_is_logged_as_near_certain_not_as_a_rare_event(hub_home):
    """Greedy, a tile left out for the budget is what the policy always does: its propensity
    is about 1, not the tiny probability of its value falling under the threshold."""
    frame = no_dates()
    plan = MetaController().plan(profile_dataset(frame), user="ann",
                                 dashboard=dashboard_id(frame), budget_seconds=0.0, seed=0)
    rows = [e for e in AuditLog().entries(agent="strategy") if "budget" in e.explanation]
    assert rows and not analyses(plan)
    assert all(e.propensity > 0.9 for e in rows)


def test_a_page_opened_twice_shows_the_same_plan_until_something_was_learned(hub_home):
    Controls().set_mode("assisted")
    frame = no_dates()
    profile, dashboard = profile_dataset(frame), dashboard_id(frame)
    controller = MetaController()
    first = controller.plan(profile, user="ann", dashboard=dashboard)
    session = controller.open(first.layout, user="ann", dashboard=dashboard, profile=profile)
    again = controller.plan(profile, user="ann", dashboard=dashboard)
    # exploration draws the same while ann taught nothing: no change, nothing to approve
    assert again.layout.ids == first.layout.ids and again.proposed is None
    before = controller.plan_seed("ann", dashboard)
    session.interact(first.layout.ids[0], "thumbs_up")
    assert controller.plan_seed("ann", dashboard) != before
    assert controller.plan_seed("bob", dashboard) != controller.plan_seed("ann", dashboard)


def test_a_plan_repeated_unchanged_is_not_audited_again(hub_home):
    frame = no_dates()
    profile, dashboard = profile_dataset(frame), dashboard_id(frame)
    controller = MetaController()
    first = controller.plan(profile, user="ann", dashboard=dashboard)
    rows = len(AuditLog().entries(agent="strategy"))
    design = len(AuditLog().entries(agent=controller.agent.name))
    again = controller.plan(profile, user="ann", dashboard=dashboard)
    assert len(AuditLog().entries(agent="strategy")) == rows  # the same decisions, not repeated
    assert len(AuditLog().entries(agent=controller.agent.name)) == design
    ids = {t.id: p.decision_id for t, p in ((t, first.tiles[t.id]) for t in first.layout)}
    assert all(again.tiles[t].decision_id == ids[t] for t in ids if t.startswith("an-"))
    controller.plan(profile, user="bob", dashboard=dashboard)  # another viewer: decided anew
    assert len(AuditLog().entries(agent="strategy")) > rows
