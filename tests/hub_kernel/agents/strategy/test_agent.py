"""The Analysis Strategy Agent: learning which analyses to show, its agent contract, and one call
that chooses, runs and searches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hub_kernel.agents.strategy.agent import StrategyAgent
from hub_kernel.agents.strategy.bandit import AnalysisBandit
from hub_kernel.data.profile import profile_dataset
from hub_kernel.exceptions import AgentError


def test_analysis_choice_shifts_toward_what_a_user_rewards(tmp_path, audit):
    """A simulated user who likes clusters and outliers and dislikes the summary table."""
    profile = profile_dataset(_frame())
    agent = StrategyAgent(tmp_path / "strategy", audit=audit, seed=0)
    likes = {"clustering": "thumbs_up", "outliers": "expand", "summary": "thumbs_down"}
    before = {n: agent.bandit.probability_shown(n, _context(profile)) for n in likes}
    for _ in range(25):
        for choice in agent.choose_analyses(profile):
            if choice.show and choice.name in likes:
                agent.feedback(profile, choice.name, likes[choice.name], save=False)
        for name in ("clustering", "summary"):  # shown or not, the tile was seen elsewhere
            agent.feedback(profile, name, likes[name], save=False)
    after = {n: agent.bandit.probability_shown(n, _context(profile)) for n in likes}
    assert before["clustering"] < 0.5 < 0.9 < after["clustering"]
    assert before["summary"] > 0.5 > 0.1 > after["summary"]
    assert after["outliers"] > before["outliers"]
    choices = {c.name: c for c in agent.choose_analyses(profile, explore=False)}
    assert choices["clustering"].show and not choices["summary"].show
    shown = [e for e in audit.entries(agent="strategy") if e.action.startswith("show:")]
    assert shown and all(e.propensity is not None for e in shown)

    agent.save()
    again = StrategyAgent(tmp_path / "strategy", audit=False)
    assert again.bandit.probability_shown("clustering", _context(profile)) == pytest.approx(
        after["clustering"])


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60),
                         "kind": rng.choice(["x", "y"], size=60)})


def _context(profile):
    from hub_kernel.agents.strategy.bandit import analysis_context

    return analysis_context(profile)


def test_the_agent_contract_on_the_analysis_decision(tmp_path):
    agent = StrategyAgent(tmp_path / "s", audit=False)
    obs = _context(profile_dataset(_frame()))
    probabilities = agent.action_probabilities(obs)
    assert probabilities.shape == (len(agent.analysis_names()),)
    assert probabilities.sum() == pytest.approx(1.0)
    action = agent.act(obs)
    agent.update(obs, action, 1.0)
    assert agent.bandit.counts[agent.analysis_names()[action]] == 1
    with pytest.raises(AgentError, match="unknown feedback"):
        agent.feedback(profile_dataset(_frame()), "summary", "meh")


def test_analyses_that_do_not_apply_are_never_shown(tmp_path):
    agent = StrategyAgent(tmp_path / "s", audit=False)
    choices = {c.name: c for c in agent.choose_analyses(profile_dataset(_frame()))}
    assert not choices["trend"].applies and not choices["trend"].show
    assert "needs a date column" in choices["trend"].explanation
    assert not choices["feature_importance"].show  # no target


def test_bandit_round_trips():
    bandit = AnalysisBandit()
    context = np.r_[np.full(8, 0.5), 0.0, 1.0]
    bandit.update("summary", context, 0.0)
    again = AnalysisBandit.from_dict(bandit.to_dict())
    assert again.posterior("summary", context) == pytest.approx(bandit.posterior("summary",
                                                                                 context))


def test_one_call_from_a_notebook_cell(tmp_path, models_home, radial):
    """Choose analyses, run them and search models for a target, in one call."""
    X, y = radial(10, n=120)
    frame = X.assign(label=y)
    agent = StrategyAgent(tmp_path / "s", audit=False)
    report = agent.analyze(frame, "label", budget=3, n_jobs=1, name="circles")
    assert report.shown and set(report.results) <= set(report.shown)
    if "supervised_model" in report.results:
        assert report.search is not None and report.search.parent_run_id
    assert report.run_id is not None
    assert all(f.text for f in report.facts())
    asked = agent.analyze(frame, names=["summary"], track=False)
    assert list(asked.results) == ["summary"] and asked.run_id is None


def test_a_target_always_gets_the_model_and_its_predictors(tmp_path, radial):
    from hub_kernel.agents.strategy.agent import StrategyAgent
    from hub_kernel.data import profile_dataset

    X, y = radial(4, n=120)
    frame = X.assign(label=y)
    agent = StrategyAgent()
    for _ in range(5):  # whatever the bandit draws
        choices = agent.choose_analyses(profile_dataset(frame), target="label", explore=True)
        shown = {c.name for c in choices if c.show}
        assert {"supervised_model", "feature_importance"} <= shown
