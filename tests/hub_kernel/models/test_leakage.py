"""The leakage guard: columns that give the target away are named, left out and reported;
genuine predictors, however strong, are not."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from hub_kernel.exceptions import ModelError
from hub_kernel.models.leakage import find_leaks, leak_tags, prepare_features, without_leaks


def leaky_houses(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A price driven by ``size`` and ``area``, with its logarithm, a copy and an id."""
    rng = np.random.default_rng(seed)
    size = rng.normal(size=n)
    area = rng.choice(["north", "south", "east"], size=n)
    price = np.exp(3 + 0.5 * size + 0.3 * (area == "north") + 0.3 * rng.normal(size=n))
    return pd.DataFrame({"listing_id": np.arange(1, n + 1), "size": size, "area": area,
                         "price": price, "log_price": np.log(price), "price_copy": price,
                         "uuid": [f"{rng.integers(16**8):08x}-1111-4222-8333-{i:012x}"
                                  for i in range(n)]})


def test_log_of_the_target_a_copy_and_ids_are_left_out_and_named():
    report = find_leaks(leaky_houses(), "price")
    assert set(report.excluded) == {"listing_id", "log_price", "price_copy", "uuid"}
    kinds = {leak.column: leak for leak in report.leaks}
    assert kinds["log_price"].kind == "monotone"
    assert kinds["log_price"].evidence == pytest.approx(1.0)
    assert kinds["price_copy"].kind == "copy"
    assert kinds["listing_id"].kind == kinds["uuid"].kind == "identifier"
    lines = report.lines()
    assert ("left out: log_price — a monotone transform of price (Spearman 1.000); use "
            "--keep-column log_price to keep it") in lines
    assert any("uuid" in c and "leak of price" in c for c in report.caveats())


def test_a_column_kept_on_purpose_is_reported_but_kept():
    frame, report = prepare_features(leaky_houses(), "price", keep=["log_price"])
    assert "log_price" in frame.columns and "price_copy" not in frame.columns
    assert "price" in frame.columns and "size" in frame.columns
    assert [leak.column for leak in report.kept] == ["log_price"]
    assert "kept on request: log_price — a monotone transform of price" in report.lines()[-1]


def test_keeping_a_column_that_does_not_exist_is_refused():
    with pytest.raises(ModelError, match="cannot keep 'nope': no such column"):
        find_leaks(leaky_houses(), "price", keep=["nope"])


def test_a_post_outcome_count_of_a_rare_class_is_left_out():
    rng = np.random.default_rng(1)
    n = 2000
    tenure = rng.normal(size=n)
    churned = rng.random(n) < 1 / (1 + np.exp(3.5 + tenure))
    frame = pd.DataFrame({"tenure": tenure, "plan": rng.choice(["a", "b"], n),
                          "refunds_after_leaving": np.where(churned, rng.integers(1, 4, n), 0),
                          "churned": np.where(churned, "yes", "no")})
    report = find_leaks(frame, "churned")
    assert report.excluded == ("refunds_after_leaving",)
    assert report.leaks[0].kind == "near_perfect" and report.leaks[0].evidence > 0.98
    assert "almost perfectly" in report.leaks[0].reason


def test_classes_under_other_names_are_left_out():
    rng = np.random.default_rng(2)
    label = rng.choice(["cat", "dog"], 300)
    frame = pd.DataFrame({"x": rng.normal(size=300), "label": label,
                          "code": np.where(label == "cat", "C", "D")})
    assert find_leaks(frame, "label").excluded == ("code",)


def test_a_strong_but_noisy_predictor_is_not_a_leak():
    rng = np.random.default_rng(3)
    x = rng.normal(size=3000)
    y = x + 0.75 * rng.normal(size=3000)
    assert 0.75 < np.corrcoef(x, y)[0, 1] < 0.85
    frame = pd.DataFrame({"x": x, "other": rng.normal(size=3000), "y": y,
                          "bucket": rng.integers(0, 5, 3000)})
    assert not find_leaks(frame, "y")
    frame["high"] = np.where(y > 0, "yes", "no")
    assert not find_leaks(frame.drop(columns=["y"]), "high")


@pytest.mark.parametrize("target", ["weather", "precipitation", "temp_max", "temp_min", "wind"])
def test_the_bundled_sample_has_no_leak(target):
    from hub_kernel.data import read_table, sample_path

    frame = read_table(sample_path())
    report = find_leaks(frame, target)
    assert not report, report.lines()


def test_a_million_rows_are_checked_on_a_sample_in_well_under_a_second():
    rng = np.random.default_rng(4)
    n = 1_000_000
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(10)})
    frame["colour"] = rng.choice(["red", "green", "blue"], n)
    frame["y"] = frame["x0"] + rng.normal(size=n)
    frame["y_doubled"] = 2 * frame["y"]
    started = time.perf_counter()
    report = find_leaks(frame, "y")
    elapsed = time.perf_counter() - started
    assert report.excluded == ("y_doubled",) and report.rows_checked == 20_000
    assert elapsed < 2.0  # about 0.2 s on an idle core; a margin for busy test machines


def test_the_features_plan_drops_leaks_with_their_reason_or_refuses_when_none_is_left():
    from hub_kernel.models.features import plan_features

    frame = leaky_houses()
    report = find_leaks(frame, "price")
    plan = without_leaks(plan_features(frame.drop(columns=["price"])), report)
    assert plan.features == ["size", "area"]
    assert plan.dropped["log_price"].startswith("left out as a leak: a monotone transform")
    only_leaks = frame[["price", "log_price"]]
    with pytest.raises(ModelError, match=r"every feature column leaks 'price'.*--keep-column"):
        without_leaks(plan_features(only_leaks.drop(columns=["price"])),
                      find_leaks(only_leaks, "price"))


def test_the_report_as_mlflow_tags():
    tags = leak_tags(find_leaks(leaky_houses(), "price", keep=["uuid"]))
    assert tags["hub.leaks_excluded"] == "listing_id, log_price, price_copy"
    assert "log_price — a monotone transform of price" in tags["hub.leaks"]
    assert tags["hub.leaks_kept"] == "uuid"
    assert leak_tags(None) == {}


def test_years_and_time_steps_are_not_identifiers():
    rng = np.random.default_rng(5)
    n = 60
    frame = pd.DataFrame({"year": np.arange(1961, 1961 + n), "period": np.arange(n),
                          "rate": rng.normal(size=n)})
    frame["gdp"] = 0.1 * frame["period"] + frame["rate"] + rng.normal(size=n)
    assert "year" not in find_leaks(frame, "gdp").excluded
    assert "period" not in find_leaks(frame, "gdp").excluded


def test_a_target_that_grows_with_the_years_does_not_make_the_year_a_leak():
    years = np.arange(1950, 2020)
    frame = pd.DataFrame({"year": years, "population": 1e6 * 1.02 ** (years - 1950)})
    frame["rain"] = np.random.default_rng(0).normal(size=len(years))
    assert not find_leaks(frame, "population")


def test_two_post_outcome_columns_are_both_left_out():
    rng = np.random.default_rng(6)
    n = 3000
    tenure = rng.normal(size=n)
    churned = rng.random(n) < 1 / (1 + np.exp(2 + tenure))
    frame = pd.DataFrame({"tenure": tenure, "plan": rng.choice(["a", "b", "c"], n),
                          "refunds": np.where(churned, rng.integers(1, 4, n), 0),
                          "exit_survey": np.where(churned, rng.choice(["x", "y"], n), "none"),
                          "churned": churned})
    assert set(find_leaks(frame, "churned").excluded) == {"refunds", "exit_survey"}
