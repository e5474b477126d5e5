"""hub_kernel: the engine of hub (data, analyses, models, agents, safety, scheduling).

Importing it stays light: torch, stable-baselines3 and mlflow are imported where they are used.
"""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version

from hub_kernel.exceptions import (
    AgentError,
    ConfigError,
    DataError,
    HubError,
    LayoutError,
    ModelError,
    ServeError,
    ValidationError,
)
from hub_kernel.layout import Layout, Tile

try:
    __version__ = version("hub")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

logging.getLogger("hub_kernel").addHandler(logging.NullHandler())

__all__ = [
    "AgentError",
    "ConfigError",
    "DataError",
    "HubError",
    "Layout",
    "LayoutError",
    "ModelError",
    "ServeError",
    "Tile",
    "ValidationError",
    "__version__",
]
