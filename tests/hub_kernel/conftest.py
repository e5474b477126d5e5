"""Fixtures shared by the engine's test packages (the search, the strategy agent, its env)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest


def radial_data(seed: int, n: int = 240) -> tuple[pd.DataFrame, pd.Series]:
    """Inside or outside a circle in two of six features: linear models fail, trees do well."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 6))
    y = np.where(X[:, 0] ** 2 + X[:, 1] ** 2 + 0.1 * rng.normal(size=n) < 0.5, "in", "out")
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(6)]), pd.Series(y, name="label")


@pytest.fixture
def radial() -> Callable[..., tuple[pd.DataFrame, pd.Series]]:
    """``radial(seed, n=240)``: a classification table that needs a non-linear model."""
    return radial_data


@pytest.fixture
def audit(tmp_path):
    """A fresh audit log in the test's folder."""
    from hub_kernel.safety.audit import AuditLog

    return AuditLog(tmp_path / "audit.db")
