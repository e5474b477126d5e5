"""``hub ingest`` and ``hub analyze`` of a Parquet folder larger than the memory budget."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hub_kernel.cli import app


@pytest.fixture
def folder(tmp_path, models_home, monkeypatch):
    from hub_kernel.core import config

    rng = np.random.default_rng(5)
    data = tmp_path / "trips"
    data.mkdir()
    for index in range(3):
        n = 25_000
        frame = pd.DataFrame({"distance": rng.gamma(2, 3, n), "fare": rng.normal(20, 6, n),
                              "zone": rng.choice(["a", "b", "c"], n)})
        frame.loc[rng.random(n) < 0.1, "fare"] = np.nan
        frame.to_parquet(data / f"trips-{index}.parquet", index=False)
    monkeypatch.setenv("HUB_MEMORY_BUDGET_BYTES", "100000")
    config.reload_settings()
    yield data
    monkeypatch.undo()
    config.reload_settings()


@pytest.mark.slow
def test_ingest_registers_by_reference_and_analyze_states_the_sample(folder, models_home):
    runner = CliRunner()
    ingested = runner.invoke(app, ["ingest", str(folder)], terminal_width=200)
    assert ingested.exit_code == 0, ingested.output
    assert "trips: registered as" in ingested.output
    assert "(75,000 rows × 3 columns)" in ingested.output
    assert f"registered by reference: {folder.resolve()}" in ingested.output
    assert not list(models_home.rglob("data.parquet"))  # nothing copied
    analysed = runner.invoke(app, ["analyze", "trips", "--analyses", "summary,missingness"],
                             terminal_width=200)
    assert analysed.exit_code == 0, analysed.output
    assert "75,000 rows, 3 columns" in analysed.output
    assert "sample of 50,000 of 75,000 rows" in analysed.output
    assert "The table has 75,000 rows." in analysed.output
    (folder / "trips-1.parquet").unlink()
    gone = runner.invoke(app, ["analyze", "trips", "--analyses", "summary"], terminal_width=200)
    assert gone.exit_code == 1
    assert "trips-1.parquet: is gone" in gone.output


def test_plan_of_a_large_folder_is_the_dashboards_plan(folder, models_home):
    import json

    from hub_kernel.agents.plan import dashboard_id
    from hub_kernel.data import open_table

    result = CliRunner().invoke(app, ["plan", str(folder), "--json"], terminal_width=200)
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["dashboard"] == dashboard_id(open_table(folder).sample(), None)
    assert {"overview", "missing"} <= {tile["kind"] for tile in plan["tiles"]}
