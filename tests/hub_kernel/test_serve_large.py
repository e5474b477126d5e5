"""``hub serve --dataset`` of data larger than memory: a Parquet folder or a CSV glob."""

from __future__ import annotations

import pandas as pd
import pytest

from hub_kernel.exceptions import ServeError
from hub_kernel.serve import plan_serve


def test_a_parquet_folder_or_a_csv_glob_is_handed_to_the_kernels(repo, hub_home, tmp_path):
    notebook = repo / "notebooks" / "dashboard.ipynb"
    folder = tmp_path / "events"
    folder.mkdir()
    pd.DataFrame({"a": [1, 2]}).to_parquet(folder / "part-0.parquet")
    assert plan_serve(notebook, port=0, dataset=folder).env["HUB_DATASET"] == str(
        folder.resolve())
    pattern = str(tmp_path / "sales-*.csv")
    assert plan_serve(notebook, port=0, dataset=pattern).env["HUB_DATASET"] == pattern
    with pytest.raises(ServeError, match="dataset not found"):
        plan_serve(notebook, port=0, dataset=tmp_path / "nothing")
