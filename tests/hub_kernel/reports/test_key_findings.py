"""A report leads with what is worth a reader's time: ranked, corrected findings."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hub_kernel.reports.compose import compose_report


def _table() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 300
    x = rng.lognormal(size=n)
    frame = pd.DataFrame({"year": rng.integers(2003, 2010, n), "x": x, "log_x": np.log(x),
                          "y": x + rng.normal(scale=2.0, size=n),
                          "spiky": rng.standard_cauchy(size=n)})
    frame.loc[0, "year"], frame.loc[1, "year"] = 2003, 2009
    return frame


def test_key_findings_lead_with_ranked_findings_not_transforms_or_outliers(learner):
    report = compose_report("table", frame=_table(), audience="executive", learner=learner,
                            sections=["key_findings", "correlations", "data_quality",
                                      "statistics"])
    findings = report.section("key_findings").sentences
    assert findings and findings[0].topic == "finding"
    assert "x and y" in findings[0].text
    text = " ".join(s.text for s in findings)
    assert "x and log_x" not in text  # x against its own log is no finding
    assert all(s.topic != "correlation" for s in findings)
    assert "IQR" not in text and "outside" not in text  # outlier counts are not findings
    notes = " ".join(report.section("correlations").notes)
    assert "x and log_x" in notes and "transform" in notes
    statistics = " ".join(s.text for s in report.section("statistics").sentences)
    assert "2003" in statistics and "2,003" not in statistics


def test_a_comparison_judged_not_worth_it_does_not_fill_the_key_findings(learner):
    rng = np.random.default_rng(7)
    n = 80
    frame = pd.DataFrame({f"n{i}": rng.normal(size=n) for i in range(8)})
    frame["group"] = rng.choice(["north", "south"], n)
    frame["sales"] = np.where(frame["group"] == "north", 10.0, 0.0) + rng.normal(size=n)
    report = compose_report("table", frame=frame, audience="executive", learner=learner,
                            sections=["key_findings", "differences", "correlations"])
    text = " ".join(s.text for s in report.section("key_findings").sentences)
    assert "group accounts for" in text  # the real difference leads
    # the strongest of 36 noise correlations is stated in its own section, not as a finding
    assert "strongest correlation" not in text
    assert "strongest correlation" in " ".join(
        s.text for s in report.section("correlations").sentences)
