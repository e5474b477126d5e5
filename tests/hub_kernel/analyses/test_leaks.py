"""The analyses with a target leave out the columns that leak it: the findings never name a
leak as what matters most, and their caveats say what was left out."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hub_kernel.analyses import get


def leaky(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    size = rng.normal(size=n)
    price = np.exp(3 + 0.6 * size + 0.3 * rng.normal(size=n))
    return pd.DataFrame({"listing_id": np.arange(n), "size": size,
                         "noise": rng.normal(size=n), "price": price,
                         "log_price": np.log(price), "price_copy": price})


def test_feature_importance_does_not_name_a_leak_as_what_matters_most():
    result = get("feature_importance").run(leaky(), target="price")
    assert result.value("importance.top_feature") == "size"
    assert set(result.table["feature"]) <= {"size", "noise"}
    assert {leak["column"] for leak in result.data["leaks"]["leaks"]} == {
        "listing_id", "log_price", "price_copy"}
    assert any(c.startswith("log_price was left out as a leak of price: a monotone "
                            "transform of price") for c in result.caveats)


def test_feature_importance_scores_a_rare_class_by_balanced_accuracy_beside_its_baseline():
    rng = np.random.default_rng(1)
    n = 2000
    x = rng.normal(size=n)
    order = np.argsort(-(x + 0.5 * rng.normal(size=n)))
    label = np.full(n, "no", dtype=object)
    label[order[:60]] = "yes"
    frame = pd.DataFrame({"x": x, "z": rng.normal(size=n), "label": label})
    result = get("feature_importance").run(frame, target="label")
    assert result.data["scoring"] == "balanced_accuracy"
    assert result.value("importance.baseline_score") == 0.5
    assert "balanced_accuracy on held-out rows" in result.fact("importance.holdout_score").text
    assert result.fact("importance.baseline_score").text == (
        "Always predicting the most common class scores 0.5 there.")


def test_the_supervised_model_searches_without_the_leaks_and_says_so():
    result = get("supervised_model").run(leaky(), target="price", search=False, budget=20)
    search = result.artifacts["search"]
    assert set(search.excluded) == {"listing_id", "log_price", "price_copy"}
    assert "log_price" not in search.features
    assert result.value("model.best_score") < 0.99
    assert any("price_copy was left out as a leak of price: a copy" in c
               for c in result.caveats)
    kept = get("supervised_model").run(leaky(), target="price", search=False, budget=20,
                                       keep_columns=["log_price"])
    assert "log_price" in kept.artifacts["search"].features


def test_on_noise_the_supervised_model_says_no_model_beats_the_baseline():
    rng = np.random.default_rng(100)
    frame = pd.DataFrame(rng.normal(size=(300, 5)), columns=list("abcde"))
    frame["y"] = rng.normal(size=300)
    result = get("supervised_model").run(frame, target="y", search=False, budget=20)
    assert result.data["beats_baseline"] is False
    assert result.fact("model.best_family").text.startswith("No model beats the baseline")
    assert any("no model beats the baseline" in c for c in result.caveats)
