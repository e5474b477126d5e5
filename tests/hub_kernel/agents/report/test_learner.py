"""The Report Generation Agent's section bandit: audiences, learning, audit."""

from __future__ import annotations

import pytest

from hub_kernel.agents.report.learner import SectionLearner
from hub_kernel.agents.report.sections import AUDIENCES, SECTIONS
from hub_kernel.agents.report.store import FeedbackStore
from hub_kernel.exceptions import ReportError


def test_each_audience_starts_from_its_own_priorities(learner):
    executive = learner.choose("executive")
    analyst = learner.choose("analyst")
    technical = learner.choose("technical")
    assert executive.sections[0] == "key_findings"
    assert len(executive.sections) == AUDIENCES["executive"].n_sections
    assert {"model", "validation", "drift", "fairness"} <= set(technical.sections)
    assert {"distributions", "correlations", "statistics"} <= set(analyst.sections)
    assert executive.propensity == pytest.approx(1.0)  # no exploration: greedy for sure


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_choice_shifts_toward_sections_a_simulated_reader_rewards(tmp_path, seed):
    # the section bandit alone: the transfer with dashboards has its own tests
    learner = SectionLearner(FeedbackStore(tmp_path / "r.db"), epsilon=0.3, seed=seed,
                             audit=False, mode="supervised", shared=False)
    before = learner.choose("executive", epsilon=0.0).sections
    assert "drift" not in before and "trends" in before
    shown_drift = 0
    for _ in range(80):
        decision = learner.choose("executive")
        for section in decision.sections:  # the reader: loves drift, skips trends
            if section == "drift":
                shown_drift += 1
                learner.feedback("executive", "drift", "expand")
                learner.feedback("executive", "drift", "time", 45.0)
                learner.feedback("executive", "drift", "thumbs_up")
            elif section == "trends":
                learner.feedback("executive", "trends", "expand")
                learner.feedback("executive", "trends", "collapse", 1.0)
                learner.feedback("executive", "trends", "thumbs_down")
    after = learner.choose("executive", epsilon=0.0)
    assert shown_drift > 0
    assert after.sections[0] == "key_findings"  # pinned for executives
    assert after.sections[1] == "drift"
    assert "trends" not in after.sections
    posts = learner.posteriors("executive")
    assert posts["drift"].mean > 0.8
    assert posts["trends"].mean < learner.posteriors("analyst")["trends"].mean
    # what other audiences get is unchanged
    assert "drift" not in learner.choose("analyst", epsilon=0.0).sections[:3]


def test_decisions_are_audited_with_propensity_and_expected_reward(hub_home):
    from hub_kernel.safety.audit import AuditLog

    learner = SectionLearner(epsilon=0.5, seed=3, mode="supervised")
    decisions = [learner.choose("technical", list(SECTIONS)) for _ in range(4)]
    entries = AuditLog().entries(agent="report")
    assert [e.id for e in entries] == [d.audit_id for d in decisions]
    for entry, decision in zip(entries, decisions, strict=True):
        assert entry.action == "report:technical"
        assert 0 < entry.propensity <= 1
        assert entry.propensity == pytest.approx(decision.propensity)
        assert 0 < entry.expected_reward < 1
        assert "technical readers" in entry.explanation
    assert any(d.explored for d in decisions) and any(not d.explored for d in decisions)
    greedy = [d for d in decisions if not d.explored]
    assert all(d.propensity >= 0.5 for d in greedy)


def test_only_available_sections_are_chosen(learner):
    decision = learner.choose("technical", ["key_findings", "overview", "drift"])
    assert set(decision.sections) == {"key_findings", "overview", "drift"}


def test_bad_names_raise_report_errors(learner):
    with pytest.raises(ReportError, match="unknown audience 'board'"):
        learner.choose("board")
    with pytest.raises(ReportError, match="unknown report section"):
        learner.feedback("executive", "gossip", "thumbs_up")
    with pytest.raises(ReportError, match="unknown feedback"):
        learner.feedback("executive", "drift", "like")


def test_one_reader_sending_thousands_of_thumbs_cannot_outweigh_the_other_readers(learner):
    prior = learner.posteriors("analyst")["drift"]
    for reader in ("ann", "bob", "cy"):  # three people who liked the section
        learner.feedback("analyst", "drift", "expand", user=reader)
        learner.feedback("analyst", "drift", "time", 45.0, user=reader)
        learner.feedback("analyst", "drift", "thumbs_up", user=reader)
    liked = learner.posteriors("analyst")["drift"]
    assert liked.mean > prior.mean
    for _ in range(3000):  # one scripted tab
        learner.feedback("analyst", "drift", "thumbs_down", user="mallory")
    posts = learner.posteriors("analyst")["drift"]
    gained = (liked.alpha - prior.alpha, posts.beta - liked.beta)
    assert gained[1] <= gained[0] + 1e-9  # mallory's weight is at most everyone else's
    # a tie at worst: between the prior and even, never pushed under both
    assert posts.mean >= min(prior.mean, 0.5) - 1e-9 and posts.n_down <= gained[0] + 1e-9
    alone = SectionLearner(FeedbackStore(learner.store.path.with_name("alone.db")),
                           epsilon=0.0, seed=0, audit=False)
    for _ in range(3000):  # a lone reader counts, but no more than per_reader_weight
        alone.feedback("analyst", "drift", "thumbs_down", user="mallory")
    cap = alone.params.per_reader_weight
    assert alone.posteriors("analyst")["drift"].beta == pytest.approx(prior.beta + cap)
