"""Warm starts: meta-features, the meta-knowledge store, and searches starting from similar
datasets."""

from __future__ import annotations

import numpy as np

from hub_kernel.automl.search import PipelineSearch
from hub_kernel.automl.warmstart import MetaStore, remember_search, search_features


def _evaluations_to_reach(radial, target: float, **kwargs) -> int:
    X, y = radial(21)

    def enough(evaluation, search):
        if evaluation.score >= target:
            search.stop()

    result = PipelineSearch(budget=60, max_evaluations=8, metric="accuracy", callback=enough,
                            **kwargs).fit(X, y)
    reached = [e.index for e in result.evaluations if e.score >= target]
    return reached[0] if reached else 99


def test_warm_start_reaches_a_score_in_fewer_evaluations(tmp_path, radial):
    """After one search on a dataset, a similar new one starts from what worked there."""
    X, y = radial(20)
    store = MetaStore(tmp_path / "meta.json")
    earlier = PipelineSearch(budget=60, max_evaluations=8, metric="accuracy",
                             warm_start=False).fit(X, y)
    remember_search(store, "circles-1", earlier)
    similar = store.similar(np.asarray(earlier.meta_features), "classification")
    assert similar[0][0].name == "circles-1" and similar[0][1] > 0.99

    cold = _evaluations_to_reach(radial, 0.9, warm_start=False)
    warm = _evaluations_to_reach(radial, 0.9, warm_start=store)
    assert warm < cold, (warm, cold)
    assert warm == 1


def test_meta_features_and_similarity(tmp_path, radial):
    X, y = radial(7, n=100)
    features = search_features(X, y.to_numpy(), "classification")
    assert features.shape == (14,) and ((features >= 0) & (features <= 1)).all()
    store = MetaStore(tmp_path / "meta.json")
    assert store.similar(features, "classification") == []  # nothing remembered yet


def test_a_damaged_warm_start_file_does_not_stop_searches(tmp_path):
    import json


    path = tmp_path / "meta.json"
    path.write_text(json.dumps({"version": 1, "datasets": {"bad": {"key": "bad"}}}))
    assert MetaStore(path).load() == {}
    path.write_text("[]")
    assert MetaStore(path).load() == {}
