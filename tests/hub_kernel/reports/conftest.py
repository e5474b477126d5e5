"""Fixtures of the report tests: the bundled sample (with a hostile column when asked) and a
section learner with its own feedback store."""

from __future__ import annotations

import pandas as pd
import pytest

HOSTILE = "<script>alert(1)</script>"
HOSTILE_VALUE = "<img src=x onerror=alert(2)>"


@pytest.fixture(scope="session")
def sample() -> pd.DataFrame:
    from hub_kernel.data import load_dataset, sample_path

    return load_dataset(sample_path())


@pytest.fixture
def hostile(sample) -> pd.DataFrame:
    """The sample with a numeric column and a category named to inject markup."""
    frame = sample.copy()
    frame[HOSTILE] = frame["temp_max"] * 2 + frame["wind"]
    frame["weather"] = frame["weather"].replace({"fog": HOSTILE_VALUE})
    return frame


@pytest.fixture
def learner(tmp_path):
    from hub_kernel.agents.report.learner import SectionLearner
    from hub_kernel.agents.report.store import FeedbackStore

    return SectionLearner(FeedbackStore(tmp_path / "reports.db"), epsilon=0.0, seed=0,
                          audit=False)


@pytest.fixture(scope="session")
def reports(sample, tmp_path_factory):
    """One report per audience on the sample, composed once (greedy section choice)."""
    from hub_kernel.agents.report.learner import SectionLearner
    from hub_kernel.agents.report.store import FeedbackStore
    from hub_kernel.reports.compose import compose_report

    learner = SectionLearner(FeedbackStore(tmp_path_factory.mktemp("reports") / "r.db"),
                             epsilon=0.0, seed=0, audit=False)
    return {audience: compose_report("seattle-weather", audience=audience, frame=sample,
                                     learner=learner)
            for audience in ("executive", "analyst", "technical")}
