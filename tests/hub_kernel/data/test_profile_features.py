"""The one profile-feature vector and similarity every agent compares datasets by."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from hub_kernel.data.profile import profile_dataset, profile_features, similarity


def test_the_vector_describes_size_kinds_missingness_and_cardinality():
    frame = pd.DataFrame({"x": [1.0, 2.0, None, 4.0], "k": ["a", "b", "a", "a"]})
    features = profile_features(profile_dataset(frame))
    assert features.shape == (8,)
    assert features[2] == 0.5 and features[3] == 0.5  # one numeric, one categorical column
    assert features[6] == pytest.approx(0.125)  # one missing value of eight


def test_cosine_and_gaussian_similarity():
    a, b = np.array([1.0, 0.0, 1.0]), np.array([2.0, 0.0, 2.0])
    assert similarity(a, b) == pytest.approx(1.0)  # cosine: the direction only
    assert similarity(a, -b) == 0.0 and similarity(a, np.zeros(3)) == 0.0
    assert similarity(a, a, kind="gaussian") == 1.0
    assert similarity(a, b, kind="gaussian") == pytest.approx(math.exp(-2 / (2 * 0.4 ** 2)))
