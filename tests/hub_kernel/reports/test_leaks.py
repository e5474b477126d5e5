"""A report on data with a leaked column names it as a caveat, and never as a predictor."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hub_kernel.reports.compose import compose_report


def test_the_report_names_the_columns_left_out_as_leaks(learner):
    rng = np.random.default_rng(0)
    n = 300
    size = rng.normal(size=n)
    price = np.exp(3 + 0.6 * size + 0.3 * rng.normal(size=n))
    frame = pd.DataFrame({"size": size, "rooms": rng.integers(1, 6, n), "price": price,
                          "log_<b>price</b>": np.log(price)})
    report = compose_report("houses", frame=frame, target="price", audience="analyst",
                            sections=["predictors", "model"], learner=learner)
    notes = [n for s in report.sections for n in s.notes]
    assert any(n.startswith("log_<b>price</b> was left out as a leak of price: a monotone "
                            "transform of price") for n in notes)
    html = "".join(section.to_html() for section in report.sections)
    assert "log_&lt;b&gt;price&lt;/b&gt; was left out as a leak" in html
    assert "<b>price</b>" not in html
    most = [s.text for s in report.section("predictors").sentences if "matters most" in s.text]
    assert most and most[0].startswith("size matters most for predicting price")
