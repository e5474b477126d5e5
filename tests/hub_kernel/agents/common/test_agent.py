"""The agent contract (decide, update, save, load) and the shared Beta posterior."""

from __future__ import annotations

import pytest

from hub_kernel.agents.common.agent import Agent
from hub_kernel.agents.common.bandits import Posterior, ranking_probability


def test_the_design_and_report_agents_follow_the_contract(tmp_path):
    from hub_kernel.agents.layout.design import DesignAgent, DesignParams
    from hub_kernel.agents.report.learner import LearnerParams, SectionLearner
    from hub_kernel.agents.report.store import FeedbackStore

    design = DesignAgent(params=DesignParams(prior_strength=3.0))
    learner = SectionLearner(FeedbackStore(tmp_path / "r.db"), params=LearnerParams(mc_samples=9),
                             audit=False)
    assert isinstance(design, Agent) and isinstance(learner, Agent)
    assert DesignAgent.load(design.save()).params == design.params
    assert SectionLearner.load(learner.save(), store=learner.store).params == learner.params


def test_the_report_agent_decides_and_learns_through_the_contract(tmp_path):
    from hub_kernel.agents.report.learner import SectionContext, SectionFeedback, SectionLearner
    from hub_kernel.agents.report.store import FeedbackStore

    learner = SectionLearner(FeedbackStore(tmp_path / "r.db"), epsilon=0.0, seed=0, audit=False)
    decision = learner.decide(SectionContext("technical", ("overview", "drift")))
    assert decision == learner.choose("technical", ["overview", "drift"])
    learner.update(SectionFeedback("technical", "drift", "thumbs_up"))
    assert learner.posteriors("technical")["drift"].n_up == 1


def test_a_ranking_without_a_choice_is_certain():
    assert ranking_probability([Posterior()], [0], 100) == 1.0
    sure = [Posterior(50, 1), Posterior(1, 50)]
    assert ranking_probability(sure, [0, 1], 100) == pytest.approx(1.0)
    assert ranking_probability(sure, [1, 0], 100) == pytest.approx(1 / 100)
