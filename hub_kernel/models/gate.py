"""The A/B gate: the only way a challenger becomes champion without a person's override.

``run_gate`` tests champion against challenger on rows neither trained on (a paired test from
``hub_kernel.models.ab``), logs the result to MLflow, tags the challenger with the decision, and
then acts by autonomy mode: ``supervised`` and ``autonomous`` promote a winning challenger (each
promotion announced in the log and undoable with ``rollback``); ``assisted`` only proposes it,
and a person promotes it with ``hub models promote NAME VERSION``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from hub_kernel.exceptions import RegistryStateError

if TYPE_CHECKING:
    from hub_kernel.models.ab import ABResult
    from hub_kernel.models.registry import ModelRegistry

logger = logging.getLogger("hub_kernel")

Action = Literal["promoted", "proposed", "held"]


@dataclass(frozen=True)
class GateOutcome:
    """What the gate decided and did."""

    name: str
    champion: int
    challenger: int
    ab: ABResult
    ab_run_id: str
    mode: str
    action: Action
    explanation: str


def run_gate(registry: ModelRegistry, name: str, X: pd.DataFrame, y: Any, *,
             challenger: int | None = None, mode: str | None = None,
             alpha: float | None = None) -> GateOutcome:
    """Test ``challenger`` (default: the ``challenger`` alias) against the champion on ``X, y``.

    ``X, y`` must be rows neither version trained on (held out, or newly labelled).
    """
    from hub_kernel.config import get_settings
    from hub_kernel.models.ab import ab_test, log_ab_result
    from hub_kernel.models.registry import AB_DECISION_TAG

    mode = mode or get_settings().autonomy_mode
    info = registry.get_model_info(name)
    if info.champion is None:
        raise RegistryStateError(f"model {name!r} has no champion to test against")
    challenger = challenger if challenger is not None else info.challenger
    if challenger is None:
        raise RegistryStateError(f"model {name!r} has no challenger; train a new version first")
    if challenger == info.champion:
        raise RegistryStateError(f"version {challenger} of {name!r} is already the champion")
    recorded = info.version(info.champion).task
    task: Literal["classification", "regression"] | None = (
        "classification" if recorded == "classification"
        else "regression" if recorded == "regression" else None
    )
    result = ab_test(registry.load_model(name, version=info.champion),
                     registry.load_model(name, version=challenger), X, y, task=task, alpha=alpha)
    run_id = log_ab_result(result, name, info.champion, challenger)
    for key, value in ((AB_DECISION_TAG, result.decision), ("hub.ab_run", run_id)):
        registry.client.set_model_version_tag(name, str(challenger), key, value)

    action: Action
    if result.decision != "promote":
        action = "held"
        explanation = f"held version {challenger}: {result.explanation}"
    elif mode in ("supervised", "autonomous"):
        registry.promote(name, challenger, reason=f"A/B gate ({mode}): {result.explanation}")
        action = "promoted"
        explanation = (f"promoted version {challenger} over {info.champion} ({mode} mode; undo "
                       f"with `hub models rollback {name}`): {result.explanation}")
    else:
        registry.client.set_model_version_tag(name, str(challenger), "hub.proposal", "promote")
        action = "proposed"
        explanation = (f"proposed version {challenger} for promotion (assisted mode: approve "
                       f"with `hub models promote {name} {challenger}`): {result.explanation}")
    logger.info("A/B gate %s: %s", name, explanation)
    return GateOutcome(name, info.champion, challenger, result, run_id, mode, action, explanation)
