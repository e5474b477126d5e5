"""Fixtures of the report agent tests: a section learner with its own feedback store."""

from __future__ import annotations

import pytest


@pytest.fixture
def learner(tmp_path):
    from hub_kernel.agents.report.learner import SectionLearner
    from hub_kernel.agents.report.store import FeedbackStore

    return SectionLearner(FeedbackStore(tmp_path / "reports.db"), epsilon=0.0, seed=0,
                          audit=False)
