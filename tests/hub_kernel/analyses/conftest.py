"""Fixtures for the analysis tests: small synthetic tables whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def mixed() -> pd.DataFrame:
    """Every kind of column, with known relations: y = 2x + noise, segment means by colour,
    an upward daily series with a weekly cycle, and gaps in two columns."""
    rng = np.random.default_rng(0)
    n = 140
    x = rng.normal(size=n)
    colour = np.array(["red", "green", "blue", "green"] * (n // 4))
    day = pd.date_range("2024-01-01", periods=n, freq="D")
    weekly = np.where(day.day_of_week >= 5, 4.0, 0.0)
    frame = pd.DataFrame({
        "day": day,
        "x": x,
        "y": 2 * x + rng.normal(scale=0.2, size=n),
        "sales": 0.5 * np.arange(n) + weekly + rng.normal(scale=0.5, size=n),
        "amount": np.where(colour == "red", 10.0, np.where(colour == "blue", 5.0, 1.0))
        + rng.normal(scale=0.5, size=n),
        "colour": colour,
    })
    frame.loc[::7, "x"] = np.nan
    frame.loc[::10, "colour"] = None
    return frame
