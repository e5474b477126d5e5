"""Each analysis on small synthetic data: the facts a user would read are right."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hub_kernel.analyses import (
    Analysis,
    AnalysisError,
    AnalysisRequestError,
    AnalysisResult,
    Fact,
    UnknownAnalysisError,
    analysis_registry,
    available,
    format_number,
    get,
    on_column,
    register,
    run_analyses,
)
from hub_kernel.data.profile import profile_dataset
from hub_kernel.exceptions import HubError, RegistryError

BUILT_IN = ["summary", "distributions", "correlations", "missingness", "outliers", "trend",
            "segments", "clustering", "feature_importance", "supervised_model"]


# -- registry ----------------------------------------------------------------------------------
def test_every_built_in_analysis_is_registered():
    assert available()[: len(BUILT_IN)] == BUILT_IN
    assert all(get(n).name == n and get(n).title for n in BUILT_IN)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownAnalysisError, match="no analysis named 'nope'; known analyses: "
                                                   "summary, distributions") as caught:
        get("nope")
    assert isinstance(caught.value, RegistryError) and isinstance(caught.value, HubError)


def test_unknown_name_fails_run_analyses_before_any_work(mixed):
    with pytest.raises(UnknownAnalysisError):
        run_analyses(mixed, names=["summary", "nope"])


class _Echo(Analysis):
    name = "echo"
    title = "Echo"

    def _run(self, frame, profile, *, target=None, word: str = "hi") -> AnalysisResult:
        return self.result(facts=[Fact("rows", f"{word}: {len(frame)} rows.", len(frame))])


class _Broken(Analysis):
    name = "broken"
    title = "Broken"

    def _run(self, frame, profile, *, target=None) -> AnalysisResult:
        with on_column("x"):
            raise ZeroDivisionError("division by zero")


@pytest.fixture
def registered():
    added = [register(_Echo), register(_Broken())]
    yield added
    for analysis in added:
        analysis_registry.unregister(analysis.name)


def test_register_run_and_unregister(registered, mixed):
    assert "echo" in available()
    result = get("echo").run(mixed, word="hello")
    assert result.facts[0].text == "hello: 140 rows." and result.seconds >= 0
    analysis_registry.unregister("broken")
    with pytest.raises(UnknownAnalysisError):
        get("broken")
    register(_Broken)  # the fixture removes it again


def test_registering_something_else_is_refused():
    with pytest.raises(RegistryError, match="not an Analysis"):
        register(object())  # type: ignore[arg-type]


def test_errors_name_the_analysis_and_column(registered, mixed):
    with pytest.raises(AnalysisError) as caught:
        get("broken").run(mixed)
    error = caught.value
    assert (error.analysis, error.column) == ("broken", "x")
    assert str(error) == ("analysis 'broken' failed on column 'x': ZeroDivisionError: "
                          "division by zero")


def test_unknown_parameter_and_missing_target_are_clear(registered, mixed):
    with pytest.raises(AnalysisError, match=r"unknown parameter\(s\) colour; it takes: word"):
        get("echo").run(mixed, colour="red")
    with pytest.raises(AnalysisRequestError, match="no column 'price' to use as the target"):
        get("summary").run(mixed, target="price")


def test_an_analysis_that_does_not_apply_says_what_it_needs():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    with pytest.raises(AnalysisError, match="needs a date column and a numeric column"):
        get("trend").run(frame)
    with pytest.raises(AnalysisError, match="does not apply"):
        run_analyses(frame, names=["missingness"])


def test_run_analyses_picks_what_applies_and_announces_it(mixed):
    from hub_kernel.core.bus import EventBus

    bus = EventBus()
    seen: list[str] = []
    bus.subscribe("analysis_done", lambda event: seen.append(event.payload["analysis"]))
    profile = profile_dataset(mixed)
    results = run_analyses(mixed, profile, bus=bus)
    expected = [n for n in available(profile) if n in BUILT_IN]
    assert list(results) == expected == seen
    assert "feature_importance" not in results  # needs a target
    json.dumps({n: r.to_dict() for n, r in results.items()})


def test_run_analyses_can_skip_failures(registered, mixed):
    results = run_analyses(mixed, names=["broken", "echo"], errors="skip")
    assert list(results) == ["echo"]


def test_every_number_in_a_fact_is_its_value(mixed):
    """Reports check narrative numbers against facts: a fact's text shows its own value."""
    results = run_analyses(mixed, target="y", names=[n for n in BUILT_IN
                                                     if n != "supervised_model"])
    for result in results.values():
        assert result.facts, result.name
        for fact in result.facts:
            if isinstance(fact.value, int | float) and not isinstance(fact.value, bool):
                assert fact.formatted in fact.text, (result.name, fact)
                assert fact.formatted == format_number(
                    fact.value, plain=fact.style == "plain", p_value=fact.style == "p_value")


@pytest.mark.parametrize(("value", "text"), [
    (1461, "1,461"), (0.51234, "0.5123"), (2.0e-7, "2e-07"), (1234567.0, "1.23e+06"),
    (0.0, "0"), (-3.14159, "-3.142"), (None, "n/a"), ("sun", "sun"), (25.0, "25"),
])
def test_format_number(value, text):
    assert format_number(value) == text


def test_fact_display_and_numpy_values():
    fact = Fact("share", "25% of rows.", np.float64(25.0), "%")
    assert isinstance(fact.value, float) and fact.display == "25%"
    assert Fact("slope", "", 0.5, "per day").display == "0.5 per day"
    assert Fact("nan", "", float("nan")).value is None


# -- each analysis -------------------------------------------------------------------------------
def test_summary_counts_and_centres(mixed):
    result = get("summary").run(mixed)
    assert result.value("rows") == 140 and result.value("columns") == 6
    assert result.value("kind.numeric") == 4
    assert result.value("mean.x") == pytest.approx(mixed["x"].mean())
    assert result.value("median.amount") == pytest.approx(mixed["amount"].median())
    assert result.value("first.day") == "2024-01-01"
    assert result.value("top.colour") == pytest.approx(100 * 70 / 126)  # green, of 126 present
    assert result.fact("top.colour").text.startswith("The most common colour is green")
    assert list(result.table["column"]) == list(mixed.columns)


def test_distributions_find_skew_and_top_category():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"wait": rng.exponential(size=500), "height": rng.normal(size=500),
                          "kind": ["a"] * 300 + ["b"] * 150 + ["c"] * 50})
    result = get("distributions").run(frame)
    assert result.value("skew.wait") > 1 and "right-skewed" in result.fact("skew.wait").text
    assert "roughly symmetric" in result.fact("skew.height").text
    assert result.value("top_share.kind") == pytest.approx(60.0)
    assert result.value("categories.kind") == 3
    assert result.chart["type"] == "histogram" and result.chart["column"] == "wait"
    assert sum(result.chart["y"]) == 500


def test_correlations_find_the_strongest_pair(mixed):
    result = get("correlations").run(mixed)
    strongest = result.fact("corr.strongest")
    assert "between x and y" in strongest.text and strongest.value > 0.95
    assert result.value("corr.strongest.p_value") < 1e-10
    assert result.table.iloc[0][["a", "b"]].tolist() == ["x", "y"]
    assert result.chart["type"] == "heatmap" and len(result.chart["z"]) == 4


def test_correlations_sign():
    x = np.arange(50.0)
    noise = np.random.default_rng(0).normal(scale=20, size=50)
    result = get("correlations").run(pd.DataFrame({"up": x, "down": -3 * x + noise}))
    assert -1.0 < result.value("corr.strongest") < -0.8
    assert "negatively" in result.fact("corr.up|down").text


def test_missingness_shares_are_exact():
    frame = pd.DataFrame({"a": [1.0, None, 3.0, 4.0], "b": [None, None, "x", "y"],
                          "c": [1, 2, 3, 4]})
    result = get("missingness").run(frame)
    assert result.value("missing.a") == 25.0
    assert result.value("missing.b") == 50.0
    assert result.value("missing.cells") == pytest.approx(100 * 3 / 12)
    assert result.value("missing.complete_rows") == 50.0
    assert result.value("missing.columns") == 2
    assert result.value("missing.together") == 50.0  # a and b: both in 1 of the 2 rows
    assert result.table["column"].tolist() == ["b", "a"]
    assert "c" not in result.chart["x"]


def test_outliers_count_iqr_and_robust_z():
    values = np.r_[np.linspace(10, 20, 98), 100.0, -50.0]
    result = get("outliers").run(pd.DataFrame({"v": values, "flat": np.linspace(0, 1, 100)}))
    assert result.value("outliers.v") == 2
    assert result.value("outliers.v.share") == 2.0
    assert result.value("outliers.v.robust_z") == 2
    assert result.value("outliers.total") == 2
    assert {e["value"] for e in result.data["examples"]["v"]} == {100.0, -50.0}


def test_trend_of_an_upward_series(mixed):
    result = get("trend").run(mixed, columns=["sales"])
    assert result.value("trend.sales.direction") == "upward"
    assert result.value("trend.sales.slope") == pytest.approx(0.5, abs=0.02)
    assert result.fact("trend.sales.slope").unit == "per day"
    assert result.value("trend.sales.p_value") < 1e-10
    assert result.value("seasonality.sales.period") == 7
    assert result.value("seasonality.sales.peak") in ("Saturday", "Sunday")
    assert result.chart["type"] == "line" and "trend" in result.chart["series"]


def test_trend_of_noise_is_flat_and_not_seasonal():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"t": pd.date_range("2023-01-01", periods=200, freq="D"),
                          "v": rng.normal(size=200)})
    result = get("trend").run(frame)
    assert result.value("trend.v.direction") == "flat"
    assert result.value("trend.v.p_value") > 0.05
    assert "no clear seasonal cycle" in result.fact("seasonality.v.strength").text


def test_trend_resamples_irregular_timestamps():
    rng = np.random.default_rng(4)
    stamps = pd.Timestamp("2024-01-01") + pd.to_timedelta(
        np.sort(rng.uniform(0, 90, size=400)), unit="D")
    frame = pd.DataFrame({"t": stamps, "v": np.linspace(0, 9, 400) + rng.normal(0, 0.1, 400)})
    result = get("trend").run(frame)
    assert any("irregular" in c for c in result.caveats)
    assert result.value("trend.v.direction") == "upward"
    assert result.value("trend.v.slope") == pytest.approx(0.1, rel=0.1)


def test_segments_find_the_largest_mean(mixed):
    result = get("segments").run(mixed, by="colour", value="amount")
    assert result.value("segments.top_segment") == "red"
    assert result.value("segments.bottom_segment") == "green"
    assert result.value("segments.top_mean") == pytest.approx(10.0, abs=0.3)
    assert result.value("segments.difference") == pytest.approx(9.0, abs=0.4)
    assert result.value("segments.p_value") < 1e-10
    assert result.value("segments.effect_size") > 90


def test_segments_choose_the_strongest_pair_on_their_own(mixed):
    result = get("segments").run(mixed)
    assert (result.value("segments.by"), result.value("segments.value")) == ("colour",
                                                                             "amount")
    assert result.caveats and result.data["tested"]


def test_clustering_finds_three_blobs():
    rng = np.random.default_rng(5)
    centres = np.array([[0, 0], [8, 8], [0, 8]])
    points = np.vstack([c + rng.normal(scale=0.5, size=(40, 2)) for c in centres])
    result = get("clustering").run(pd.DataFrame(points, columns=["a", "b"]))
    assert result.value("clusters.k") == 3
    assert result.value("clusters.silhouette") > 0.7
    assert [result.value(f"clusters.{c}.share") for c in "ABC"] == pytest.approx([100 / 3] * 3)
    assert set(result.chart["color"]) == {"A", "B", "C"}


def test_clustering_leaves_the_target_out(mixed):
    result = get("clustering").run(mixed, target="y", max_k=3)
    assert "y" not in result.data["columns"]


def test_feature_importance_finds_the_driver():
    rng = np.random.default_rng(6)
    frame = pd.DataFrame({"signal": rng.normal(size=300), "noise": rng.normal(size=300),
                          "colour": rng.choice(["a", "b"], size=300)})
    frame["label"] = np.where(frame["signal"] > 0, "high", "low")
    result = get("feature_importance").run(frame, target="label")
    assert result.value("importance.top_feature") == "signal"
    assert result.value("importance.top") > 0.3
    assert result.value("importance.holdout_score") > 0.9
    assert result.table.iloc[0]["feature"] == "signal"


def test_feature_importance_needs_a_target(mixed):
    assert not get("feature_importance").applies(profile_dataset(mixed))
    with pytest.raises(AnalysisError, match="needs a target column"):
        get("feature_importance").run(mixed)


def test_supervised_model_beats_the_baseline(mixed):
    result = get("supervised_model").run(mixed.drop(columns=["day"]), target="y",
                                         search=False, budget=20)
    assert result.value("model.task") == "regression"
    assert result.value("model.best_score") > 0.5 > result.value("model.baseline_score")
    assert result.value("model.n_evaluations") == 1
    assert result.artifacts["model"].predict(mixed.drop(columns=["day", "y"]).head(3)).shape \
        == (3,)


def test_integer_column_names_are_analysed_as_text():
    import numpy as np
    import pandas as pd

    from hub_kernel.analyses import run_analyses

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({0: rng.normal(size=80), 1: rng.normal(size=80) * 3})
    results = run_analyses(frame, names=["summary"])
    assert results["summary"].facts  # not an empty section: "0" and "1" were found


def test_duplicate_column_names_are_a_clear_error():
    import pandas as pd
    import pytest as _pytest

    from hub_kernel.analyses import run_analyses
    from hub_kernel.exceptions import DataError

    frame = pd.DataFrame([[1, 2, 3]], columns=["a", "a", "b"])
    with _pytest.raises(DataError, match="several columns are named 'a'"):
        run_analyses(frame)
