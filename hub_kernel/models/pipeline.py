"""Where models registered before ``hub_kernel.models.pipeline`` became ``models.features`` find
their hub types.

A pipeline logged with skops names each class by its module path, so a version registered by an
earlier hub refers to ``hub_kernel.models.pipeline.AsFloat`` (and ``AsText``,
``DatetimeParts``). This module exists only so that such stored models keep loading; code
imports ``hub_kernel.models.features``.
"""

from __future__ import annotations

from hub_kernel.models.features import AsFloat, AsText, DatetimeParts

__all__ = ["AsFloat", "AsText", "DatetimeParts"]
