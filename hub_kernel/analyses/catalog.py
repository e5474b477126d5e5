"""Hub's analysis catalog: the registry holding the built-in analyses (``descriptive``,
``quality``, ``temporal``, ``groups``, ``supervised``, loaded on first use) and the plug-ins of the
``hub.analyses`` entry-point group, and ``run_analyses`` over it.

Analyses are registered by name (like papermill's engine registry): ``register``, ``get``,
``available``; an unknown name raises ``UnknownAnalysisError`` listing the known ones.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from hub_kernel.analyses.base import Analysis, AnalysisRegistry, AnalysisResult
from hub_kernel.exceptions import AnalysisRequestError, HubError

if TYPE_CHECKING:
    from hub_kernel.core.bus import EventBus
    from hub_kernel.data.profile import DatasetProfile

logger = logging.getLogger("hub_kernel")


def _builtins() -> Iterator[tuple[str, type[Analysis]]]:
    from hub_kernel.analyses import descriptive, groups, quality, supervised, temporal

    for module in (descriptive, quality, temporal, groups, supervised):
        for analysis in module.ANALYSES:
            yield analysis.name, analysis


analysis_registry = AnalysisRegistry(builtins=_builtins)


def register(analysis: Analysis | type[Analysis], name: str | None = None) -> Analysis:
    """Register an analysis in hub's registry (usable as a class decorator's body)."""
    return analysis_registry.register(analysis, name)


def get(name: str) -> Analysis:
    """The analysis registered as ``name``; ``UnknownAnalysisError`` names the known ones."""
    return analysis_registry.get(name)


def available(profile: DatasetProfile | None = None, target: str | None = None) -> list[str]:
    """Registered analysis names; with ``profile`` (and ``target``), those that apply."""
    return analysis_registry.available(profile, target)


def run_analyses(frame: pd.DataFrame, profile: DatasetProfile | None = None,
                 names: Sequence[str] | None = None, target: str | None = None, *,
                 params: Mapping[str, Mapping[str, Any]] | None = None,
                 errors: Literal["raise", "skip"] = "raise",
                 bus: EventBus | None = None) -> dict[str, AnalysisResult]:
    """Run ``names`` (default: every registered analysis that applies) on ``frame``.

    ``target`` goes to the analyses that need one (feature importance, supervised model) and
    is left out of the unsupervised ones' columns. ``params`` maps an analysis name to its
    keyword parameters. A named analysis that does not apply raises ``AnalysisError``; with
    ``errors="skip"`` a failing analysis is logged and left out instead. Each result is
    announced on ``bus`` (default: the process-wide bus) as ``analysis_done``.
    """
    from hub_kernel.data.profile import profile_dataset

    if not isinstance(frame, pd.DataFrame):
        raise AnalysisRequestError(f"analyses need a pandas DataFrame, not "
                                   f"{type(frame).__name__}")
    from hub_kernel.data.profile import text_columns

    frame = text_columns(frame)
    if target is not None and target not in frame.columns:
        raise AnalysisRequestError(f"no column {target!r} to use as the target; columns: "
                                   f"{', '.join(map(str, frame.columns[:20]))}")
    if profile is None:
        profile = profile_dataset(frame)
    chosen = list(names) if names is not None else available(profile, target)
    analyses = [get(n) for n in chosen]  # unknown names fail before any work
    params = params or {}
    unknown = set(params) - set(chosen)
    if unknown:
        logger.debug("parameters for analyses not run: %s", sorted(unknown))
    if bus is None:
        from hub_kernel.core.bus import default_bus

        bus = default_bus()
    results: dict[str, AnalysisResult] = {}
    for name, analysis in zip(chosen, analyses, strict=True):
        try:
            result = analysis.run(frame, profile, target=target, **dict(params.get(name, {})))
        except HubError as exc:
            if errors == "raise":
                raise
            logger.warning("analysis %s skipped: %s", name, exc)
            continue
        results[name] = result
        bus.publish("analysis_done", analysis=name, title=result.title,
                    n_facts=len(result.facts), seconds=round(result.seconds, 4))
    return results
