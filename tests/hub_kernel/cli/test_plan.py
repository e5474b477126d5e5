"""``hub plan`` and ``hub feedback``: what the agents would show, and feedback from outside."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hub_kernel.cli.root import app


@pytest.fixture
def sample():
    from hub_kernel.data import sample_path

    return str(sample_path())


@pytest.fixture
def survey(tmp_path):
    """A table unlike the sample: no dates, categories and numbers, some missing values."""
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({"group": rng.choice(["a", "b", "c"], n),
                          "score": rng.normal(50, 10, n), "hours": rng.normal(30, 5, n),
                          "paid": rng.random(n) < 0.4})
    frame.loc[::7, "hours"] = np.nan
    path = tmp_path / "survey.csv"
    frame.to_csv(path, index=False)
    return str(path)


def hub(*args: str):
    return CliRunner().invoke(app, list(args), terminal_width=250)


def plan(path: str, *args: str) -> dict:
    result = hub("plan", path, "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def analyses(data: dict) -> list[str]:
    return [t["analysis"] for t in data["tiles"] if t["analysis"]]


@pytest.fixture
def wide():
    from hub_kernel.cli.common import console

    before = console.width
    console.width = 250
    yield
    console.width = before


def test_plan_prints_every_tile_with_its_decision(hub_home, sample, wide):
    result = hub("plan", sample, "--user", "ann")
    assert result.exit_code == 0, result.output
    for heading in ("slot", "kind", "chart", "agent", "propensity", "why"):
        assert heading in result.output
    data = plan(sample, "--user", "ann")
    assert data["user"] == "ann" and data["dashboard"].startswith("dash-")
    for tile in data["tiles"]:
        assert set(tile) >= {"slot", "id", "kind", "analysis", "columns", "chart_type", "width",
                             "height", "agent", "decision_id", "propensity", "why"}
        assert 0 < tile["propensity"] <= 1
    assert analyses(data), "the strategy agent shows some analysis tiles"


def test_two_datasets_get_different_analysis_tiles(hub_home, sample, survey):
    on_sample, on_survey = analyses(plan(sample)), analyses(plan(survey))
    assert "trend" in on_sample  # the sample has dates
    assert "trend" not in on_survey  # the survey has none: trend does not apply
    assert set(on_sample) != set(on_survey)


def test_feedback_shapes_that_users_next_plan_only(hub_home, sample):
    before = plan(sample, "--user", "ann")
    tile = next(t for t in before["tiles"] if t["analysis"] == "trend")
    assert "trend" in analyses(plan(sample, "--user", "bob"))
    for _ in range(2):
        result = hub("feedback", sample, "--user", "ann", "--tile", tile["id"],
                     "--kind", "thumbs_down")
        assert result.exit_code == 0, result.output
    after = [t["id"] for t in plan(sample, "--user", "ann")["tiles"]]
    assert tile["id"] not in after or after.index(tile["id"]) > tile["slot"]
    assert "trend" in analyses(plan(sample, "--user", "bob"))  # one person's taste, not bob's


def test_feedback_refuses_unknown_kinds_and_tiles(hub_home, sample):
    result = hub("feedback", sample, "--user", "ann", "--tile", "overview", "--kind", "bogus")
    assert result.exit_code == 1 and "unknown feedback kind 'bogus'" in result.output
    result = hub("feedback", sample, "--user", "ann", "--tile", "nope", "--kind", "thumbs_up")
    assert result.exit_code == 1 and "no tile 'nope'" in result.output
    assert "overview" in result.output  # the known tiles are listed
    result = hub("feedback", sample, "--user", "ann", "--tile", "dashboard", "--kind", "done")
    assert result.exit_code == 0, result.output


def test_plan_names_a_missing_file_and_target(hub_home, sample, tmp_path):
    result = hub("plan", str(tmp_path / "nope.csv"))
    assert result.exit_code == 1 and "nope.csv" in result.output
    result = hub("plan", sample, "--target", "price")
    assert result.exit_code == 1 and "no column 'price'" in result.output
