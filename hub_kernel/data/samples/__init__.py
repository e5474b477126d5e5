"""Real, public sample datasets shipped inside the package (licences in README.md beside them)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from hub_kernel.exceptions import DataError

SAMPLES: dict[str, str] = {"seattle-weather": "seattle-weather.csv"}
DEFAULT_SAMPLE = "seattle-weather"


def sample_path(name: str = DEFAULT_SAMPLE) -> Path:
    """Path of a bundled sample dataset."""
    try:
        filename = SAMPLES[name]
    except KeyError:
        known = ", ".join(sorted(SAMPLES))
        raise DataError(name, f"no bundled sample of that name; known samples: {known}") from None
    return Path(str(files(__name__) / filename))
