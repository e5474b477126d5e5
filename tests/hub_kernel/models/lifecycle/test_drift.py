import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from hub_kernel.core.config import get_settings
from hub_kernel.data import load_dataset
from hub_kernel.exceptions import ModelError
from hub_kernel.models.lifecycle.drift import (
    MISSING,
    UNSEEN,
    DriftReport,
    drift_report,
    feature_drift,
    numeric_bins,
    psi,
)


@pytest.fixture(scope="module")
def weather() -> pd.DataFrame:
    return load_dataset()  # the bundled Seattle sample: 1461 days, 4 numeric + 1 category


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame  # 569 rows, 31 numeric columns


# --- no drift on a resample of the reference ---------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_a_bootstrap_resample_is_not_drift(weather, seed):
    report = drift_report(weather, weather.sample(len(weather), replace=True, random_state=seed))
    assert not report.drifted and not report.should_retrain
    assert report.drifted_features == []
    assert report.skipped == ("date",)  # dates always move forward: not compared by default
    assert "none of the 5 features drifted" in report.explanation.lower()


@pytest.mark.parametrize("seed", range(5))
def test_two_random_halves_are_not_drift(weather, cancer, seed):
    for frame in (weather, cancer):
        order = np.random.default_rng(seed).permutation(len(frame))
        half = len(frame) // 2
        report = drift_report(frame.iloc[order[:half]], frame.iloc[order[half:]])
        assert report.drifted_features == [], report.explanation
        assert not report.should_retrain


def test_small_batches_need_significance_not_just_a_large_psi(cancer):
    # PSI over 10 bins is biased upwards on tiny batches; the KS test keeps them quiet
    order = np.random.default_rng(0).permutation(len(cancer))
    report = drift_report(cancer.iloc[order[:40]], cancer.iloc[order[40:80]])
    assert max(f.psi for f in report.features) > get_settings().drift_psi_threshold
    assert report.drifted_features == []
    noisy = next(f for f in report.features if f.psi >= report.thresholds["psi"])
    assert "not significantly" in noisy.reason


# --- drift is flagged ----------------------------------------------------------------------------


def test_warmer_days_are_drift(weather):
    current = weather.sample(700, random_state=1).assign(
        temp_max=lambda f: f["temp_max"] + 5, temp_min=lambda f: f["temp_min"] + 5)
    report = drift_report(weather, current)
    assert set(report.drifted_features) == {"temp_max", "temp_min"}
    assert report.drift_share == pytest.approx(2 / 5)
    assert report.data_drifted and report.drifted and report.should_retrain
    assert report.reasons == ("data drift",)
    temp = report.feature("temp_max")
    assert temp.kind == "numeric" and temp.test == "ks"
    assert temp.psi > 0.2 and temp.p_value < 1e-10
    assert temp.ks_statistic is not None and temp.ks_statistic > 0.2
    assert "temp_max drifted" in temp.reason and "mean 16.4 → 21" in temp.detail
    # one sentence naming the worst features with their numbers
    text = report.explanation
    assert text.count(". ") == 0 and text.endswith("retrain recommended.")
    assert "2 of 5 features drifted" in text and "temp_min (PSI" in text and "temp_max" in text


def test_changed_category_shares_are_drift(weather):
    current = weather.sample(700, random_state=2).copy()
    rain = current["weather"] == "rain"
    current.loc[rain[rain].index[: int(rain.sum() * 0.8)], "weather"] = "sun"
    report = drift_report(weather, current, features=["weather", "wind"])
    cat = report.feature("weather")
    assert cat.kind == "categorical" and cat.test == "chi2" and cat.drifted
    assert "share of 'rain'" in cat.detail or "share of 'sun'" in cat.detail
    assert report.drift_share == 0.5 and report.should_retrain


def test_unseen_categories_are_their_own_bucket():
    ref = pd.Series(["a", "b"] * 200)
    cur = pd.Series(["a", "b", "zz"] * 100)
    result = feature_drift("c", ref, cur)
    assert result.drifted and UNSEEN in result.detail
    resampled = cur.sample(300, replace=True, random_state=0)  # repeated index labels
    assert feature_drift("c", ref, resampled).drifted
    same = feature_drift("c", ref, pd.Series(["b", "a"] * 150))
    assert same.psi == pytest.approx(0.0) and not same.drifted


def test_missing_values_are_their_own_bucket():
    rng = np.random.default_rng(0)
    ref = pd.Series(rng.normal(size=2000))
    cur = pd.Series(rng.normal(size=2000))
    cur[:800] = np.nan  # same values, 40% now missing
    result = feature_drift("x", ref, cur)
    assert result.test == "ks+missing" and result.drifted
    assert result.missing_current == pytest.approx(0.4) and "missing 0% → 40%" in result.detail
    cat = feature_drift("c", pd.Series(["a", "b"] * 500),
                        pd.Series(["a", "b", None, None] * 250, dtype=object))
    assert cat.drifted and MISSING in cat.detail


def test_constant_columns():
    same = feature_drift("k", pd.Series([3.0] * 300), pd.Series([3.0] * 200))
    assert same.psi == 0.0 and not same.drifted
    assert len(numeric_bins(np.full(10, 3.0))) == 1
    moved = feature_drift("k", pd.Series([3.0] * 300), pd.Series([4.0] * 200))
    assert moved.drifted and moved.psi > 1


def test_psi_values():
    assert psi(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0.0
    expected = (0.7 - 0.5) * np.log(0.7 / 0.5) + (0.3 - 0.5) * np.log(0.3 / 0.5)
    assert psi(np.array([0.5, 0.5]), np.array([0.7, 0.3])) == pytest.approx(expected)
    assert np.isfinite(psi(np.array([1.0, 0.0]), np.array([0.0, 1.0])))  # epsilon, not log(0)


# --- predictions and performance --------------------------------------------------------------


def test_prediction_drift_numeric_and_classes(weather):
    rng = np.random.default_rng(3)
    scores = rng.uniform(size=1000)
    report = drift_report(weather, weather, reference_predictions=scores,
                          current_predictions=rng.uniform(size=800) ** 3)
    assert report.prediction is not None and report.prediction.kind == "numeric"
    assert report.prediction.drifted and report.reasons == ("prediction drift",)
    assert report.drifted and not report.data_drifted
    labels = drift_report(
        weather, weather, reference_predictions=["rain"] * 500 + ["sun"] * 500,
        current_predictions=["rain"] * 450 + ["sun"] * 550)
    assert labels.prediction is not None and labels.prediction.kind == "categorical"
    assert not labels.prediction.drifted and not labels.should_retrain
    assert "predictions are stable" in labels.explanation


def test_performance_decay(weather):
    report = drift_report(weather, weather, reference_metric=0.91, current_metric=0.82,
                          metric_name="accuracy")
    perf = report.performance
    assert perf is not None and perf.decayed and perf.drop == pytest.approx(0.09)
    assert report.should_retrain and not report.drifted
    assert report.reasons == ("performance decay",)
    assert "accuracy fell from 0.91 to 0.82" in report.explanation
    rmse = drift_report(weather, weather, reference_metric=3.0, current_metric=3.04,
                        metric_name="rmse", higher_is_better=False)
    assert rmse.performance is not None and not rmse.performance.decayed
    assert rmse.performance.drop == pytest.approx(0.04) and not rmse.should_retrain


def test_thresholds_can_be_overridden(weather):
    current = weather.assign(temp_max=weather["temp_max"] + 5)
    default = drift_report(weather, current)
    assert default.drifted_features == ["temp_max"] and not default.data_drifted  # 20% < 30%
    strict = drift_report(weather, current, share_threshold=0.2)
    assert strict.data_drifted and strict.thresholds["share"] == 0.2
    lenient = drift_report(weather, current, psi_threshold=50.0)
    assert lenient.drifted_features == []
    decay = drift_report(weather, weather, reference_metric=0.9, current_metric=0.88,
                         decay_threshold=0.01)
    assert decay.performance is not None and decay.performance.decayed


def test_settings_thresholds_are_used(weather, monkeypatch):
    from hub_kernel.core import config

    monkeypatch.setenv("HUB_DRIFT_SHARE_THRESHOLD", "0.2")
    config.reload_settings()
    try:
        current = weather.assign(temp_max=weather["temp_max"] + 5)
        assert drift_report(weather, current).data_drifted
    finally:
        monkeypatch.undo()
        config.reload_settings()


def test_report_exports(weather):
    current = weather.assign(wind=weather["wind"] * 2)
    report = drift_report(weather, current, reference_predictions=[0, 1] * 50,
                          current_predictions=[1, 1] * 50, reference_metric=0.9,
                          current_metric=0.7)
    assert isinstance(report, DriftReport)
    frame = report.to_frame()
    assert list(frame["role"]) == ["feature"] * 5 + ["prediction"]
    assert frame.iloc[0]["feature"] == "wind"  # worst PSI first
    data = report.to_dict()
    json.dumps(data)  # plain types only
    assert data["drifted_features"] == ["wind"] and data["should_retrain"]
    assert set(data["reasons"]) == {"prediction drift", "performance decay"}


def test_explicit_date_feature_is_compared_as_time(weather):
    report = drift_report(weather.iloc[:700], weather.iloc[700:], features=["date"])
    assert report.drifted_features == ["date"]


# --- bad input ----------------------------------------------------------------------------


def test_bad_input_is_a_model_error(weather):
    with pytest.raises(ModelError, match="no column in common"):
        drift_report(weather, pd.DataFrame({"other": [1, 2, 3]}))
    with pytest.raises(ModelError, match="empty"):
        drift_report(weather, weather.iloc[:0])
    with pytest.raises(ModelError, match="empty"):
        drift_report(pd.DataFrame(), weather)
    with pytest.raises(ModelError, match="not in both"):
        drift_report(weather, weather, features=["nope"])
    with pytest.raises(ModelError, match="DataFrame"):
        drift_report(weather, [1, 2, 3])
    with pytest.raises(ModelError, match="both reference_predictions"):
        drift_report(weather, weather, reference_predictions=[1, 2])
    with pytest.raises(ModelError, match="both reference_metric"):
        drift_report(weather, weather, reference_metric=0.9)
    with pytest.raises(ModelError, match="all dates"):
        drift_report(weather[["date"]], weather[["date"]])
