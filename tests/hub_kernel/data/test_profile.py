import numpy as np
import pandas as pd

from hub_kernel.data import load_dataset, profile_dataset


def test_profile_of_mixed_frame():
    frame = pd.DataFrame({
        "n": [1.0, 2.0, np.nan, 4.0],
        "c": ["a", "b", "a", None],
        "d": pd.to_datetime(["2024-01-01", "2024-01-02", None, "2024-01-04"]),
        "flag": [True, False, True, True],
    })
    profile = profile_dataset(frame)
    kinds = {c.name: c.kind for c in profile.columns}
    assert kinds == {"n": "numeric", "c": "categorical", "d": "datetime", "flag": "boolean"}
    assert profile.column("n").n_missing == 1
    assert profile.column("n").missing_share == 0.25
    assert profile.column("c").stats["top"] == "a"
    assert profile.n_missing == 3
    assert profile.column("n").stats["max"] == 4.0


def test_free_text_is_not_categorical():
    frame = pd.DataFrame({"note": [f"comment number {i}" for i in range(500)]})
    assert profile_dataset(frame).column("note").kind == "text"


def test_sample_profile_sees_seasonal_temperature():
    profile = profile_dataset(load_dataset())
    assert profile.n_rows == 1461
    assert profile.column("temp_max").stats["autocorr"] > 0.8
    assert profile.column("precipitation").stats["autocorr"] < 0.5
    assert profile.to_dict()["n_columns"] == 6
