"""What an analysis leads with: ranked by effect and corrected support, numbers for people."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hub_kernel.analyses import get, run_analyses
from hub_kernel.analyses.findings import (
    benjamini_hochberg,
    holm,
    key_findings,
    rank_findings,
    support,
    support_of,
)


def test_holm_and_bh_adjust_as_published():
    p = [0.01, 0.04, 0.03, 0.005]
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert benjamini_hochberg(p) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert support_of(1.0) == 0 and support_of(1e-9) == 1 and support_of(None) is None
    assert support_of(0.01) == pytest.approx(0.5)


def test_a_p_value_of_zero_is_written_below_the_floor():
    rng = np.random.default_rng(1)
    x = rng.normal(size=3000)
    frame = pd.DataFrame({"x": x, "y": x + rng.normal(scale=0.1, size=3000)})
    result = get("correlations").run(frame)
    fact = result.fact("corr.strongest.p_value")
    assert fact.value == 0.0
    assert "< 1e-16" in fact.text and "is 0." not in fact.text
    assert fact.display == "< 1e-16"


def test_years_and_ids_have_no_separator_and_mid_numbers_no_exponent():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"year": rng.integers(2003, 2010, 200),
                          "customer_id": rng.integers(10_000, 99_999, 200),
                          "amount": np.full(200, 12345.6)})
    frame.loc[0, "year"], frame.loc[1, "year"] = 2003, 2009
    result = get("summary").run(frame)
    assert result.fact("min.year").text == "The smallest year is 2003."
    assert result.fact("max.year").display == "2009"
    assert "," not in result.fact("max.customer_id").text
    assert result.fact("mean.amount").text == "The mean of amount is 12,346."


def test_a_column_and_its_own_transform_are_no_finding():
    rng = np.random.default_rng(3)
    x = rng.lognormal(size=400)
    frame = pd.DataFrame({"x": x, "log_x": np.log(x), "double_x": 2 * x,
                          "y": x + rng.normal(scale=2.0, size=400)})
    result = get("correlations").run(frame)
    lead = key_findings(result, 1)[0]
    assert set(lead.columns) < {"x", "log_x", "double_x", "y"} and "y" in lead.columns
    assert "y" in result.fact("corr.strongest").text
    assert any("x and log_x" in c and "transform" in c for c in result.caveats)
    assert any("x and double_x" in c for c in result.caveats)
    for finding in key_findings(result, None):
        assert "y" in finding.columns, finding.text


def test_a_transform_pair_lends_no_support_to_the_tile():
    rng = np.random.default_rng(6)
    x = rng.lognormal(size=300)
    frame = pd.DataFrame({"x": x, "log_x": np.log(x), "noise": rng.normal(size=300)})
    result = get("correlations").run(frame)
    assert key_findings(result, None) == []
    assert support(result) < 0.5  # x against log_x (p < 1e-16) is not what makes the tile


def test_outlier_counts_and_missing_shares_are_never_key_findings(mixed):
    results = run_analyses(mixed)
    assert key_findings(results["outliers"]) == []
    assert support(results["outliers"]) is None and support(results["summary"]) is None
    ranked = rank_findings(results, None)
    assert ranked, "the mixed table has real relations"
    assert not any(f.key.startswith(("outliers.", "missing.")) for f in ranked)
    assert ranked == sorted(ranked, key=lambda f: -f.score)
    # y = 2x + noise leads the correlations, with full support
    assert {"x", "y"} == set(key_findings(results["correlations"], 1)[0].columns)
    assert support(results["correlations"]) == pytest.approx(1.0)


@pytest.mark.parametrize("method", ["holm", "bh"])
def test_the_best_correlation_of_noise_gets_low_support(method):
    rng = np.random.default_rng(4)
    noise = pd.DataFrame(rng.normal(size=(60, 30)), columns=[f"c{i}" for i in range(30)])
    result = get("correlations").run(noise)
    raw = float(result.table["p_value"].min())
    assert raw < 0.01  # uncorrected, chance alone looks "significant" among 435 pairs
    assert result.value("corr.n_pairs") == 435
    assert support(result, method) < 0.15
    assert key_findings(result, None, method) == []
    # the same pair on its own is supported: the correction is what lowers it
    a, b = result.data["strongest"]
    alone = get("correlations").run(noise[[a, b]])
    assert support(alone, method) > support(result, method) + 0.3


def test_segments_correct_for_the_pairs_tried(mixed):
    result = get("segments").run(mixed)
    lead = key_findings(result, 1)[0]
    assert lead.key == "segments.effect_size" and lead.comparisons == len(result.data["tests"])
    assert "corrected for the pairs tested" in result.fact("segments.p_value").text
    assert all(t["p_adjusted"] >= t["kruskal_p"] for t in result.data["tested"])


def test_a_feature_that_is_the_targets_own_transform_is_no_key_finding():
    rng = np.random.default_rng(6)
    x = rng.normal(size=300)
    y = 3 * x + rng.normal(size=300)
    frame = pd.DataFrame({"x": x, "y": y, "y_cents": 100 * y, "noise": rng.normal(size=300)})
    result = get("feature_importance").run(frame, target="y")
    # the leakage guard leaves it out of the model, and says so
    assert any("y_cents was left out as a leak of y: a monotone transform" in c
               for c in result.caveats)
    assert "y_cents" not in set(result.table["feature"])
    assert result.value("importance.top_feature") == "x"
    assert all("y_cents" not in f.columns for f in key_findings(result, None))
    # kept on purpose, it is still no key finding
    kept = get("feature_importance").run(frame, target="y", keep_columns=["y_cents"])
    assert any("y_cents" in c and "transform of the target" in c for c in kept.caveats)
    assert all("y_cents" not in f.columns for f in key_findings(kept, None))


def test_means_of_ids_and_years_in_segments_and_clusters_have_no_separator():
    rng = np.random.default_rng(8)
    n = 200
    group = rng.choice(["a", "b"], n)
    frame = pd.DataFrame({"group": group,
                          "customer_id": np.where(group == "a", 20_000, 80_000)
                          + rng.integers(0, 9_000, n),
                          "spend": rng.normal(50_000, 5_000, n)})
    segments = get("segments").run(frame, by="group", value="customer_id")
    for key in ("segments.top_mean", "segments.bottom_mean"):
        fact = segments.fact(key)
        assert "," not in fact.text and fact.display in fact.text
    clusters = get("clustering").run(frame, k=2)
    for fact in clusters.facts:
        if fact.key.endswith(".feature"):
            assert fact.display in fact.text
            assert ("," in fact.text) == ("spend" in fact.text), fact.text
