"""The A/B gate: the only way a challenger becomes champion without a person's override.

``run_gate`` tests champion against challenger on rows neither trained on (a paired test from
``models.lifecycle.ab``), logs the result to MLflow, tags the challenger with the decision, and
then acts by autonomy mode, for the ``model`` domain (``safety.modes.Controls.applies_directly``):
``supervised`` promotes a winning challenger, and so does ``autonomous`` when ``model`` is one of
``HUB_AUTONOMOUS_DOMAINS`` (each promotion announced in the log and undoable with
``rollback``); ``assisted`` (and ``autonomous`` outside its domains) only proposes it, and a
person promotes it with ``hub models promote NAME VERSION``. Without a ``mode`` the gate uses
the one set for everyone with ``hub mode set`` (else ``HUB_AUTONOMY_MODE``). A challenger the
A/B test favours but whose fairness check did not pass (when it declares sensitive attributes,
see ``ModelRegistry.promote``) is held in every mode, with the fairness reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from hub_kernel.exceptions import HubError, ModelError, RegistryStateError
from hub_kernel.safety.audit import AuditLog
from hub_kernel.safety.modes import Controls

if TYPE_CHECKING:
    from hub_kernel.models.lifecycle.ab import ABResult
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


MIN_ROWS = 10


def _training_batch(registry: ModelRegistry, name: str, version: int) -> pd.DataFrame | None:
    """The catalog batch ``version`` was trained on (None: not recorded or not found)."""
    from hub_kernel.data.catalog import Catalog

    dataset_id = registry.get_model_info(name).version(version).dataset_id
    if not dataset_id:
        return None
    try:
        return Catalog().load(dataset_id)
    except HubError:
        return None


def _row_hashes(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    return pd.util.hash_pandas_object(frame[columns], index=False)


def unseen_rows(registry: ModelRegistry, name: str, frame: pd.DataFrame,
                versions: tuple[int, ...]) -> pd.DataFrame:
    """``frame`` without the rows any of ``versions`` was trained on: rows are compared on the
    columns both tables have, in one order."""
    keep = pd.Series(True, index=frame.index)
    for version in versions:
        batch = _training_batch(registry, name, version)
        if batch is None:
            continue
        columns = sorted(set(frame.columns) & set(batch.columns))
        if columns:
            keep &= ~_row_hashes(frame, columns).isin(set(_row_hashes(batch, columns)))
    return frame[keep]


def run_gate(registry: ModelRegistry, name: str, X: pd.DataFrame, y: Any, *,
             challenger: int | None = None, mode: str | None = None,
             alpha: float | None = None, unseen_by_challenger: bool = False) -> GateOutcome:
    """Test ``challenger`` (default: the ``challenger`` alias) against the champion on ``X, y``.

    Rows either version was trained on (its recorded catalog batch) are left out first;
    ``unseen_by_challenger`` skips that check for the challenger when the caller held the rows
    out of its training (its recorded batch is then the whole batch). The decision is recorded
    on the challenger together with the champion it was tested against: promotion is allowed
    only while that champion is still in place.
    """
    from hub_kernel.models.lifecycle.ab import ab_test, log_ab_result
    from hub_kernel.models.tags import AB_CHAMPION_TAG, AB_DECISION_TAG

    mode = mode or Controls().mode()
    promotes = Controls.applies_directly(mode, "model")  # an unknown mode fails before any work
    info = registry.get_model_info(name)
    if info.champion is None:
        raise RegistryStateError(f"model {name!r} has no champion to test against")
    challenger = challenger if challenger is not None else info.challenger
    if challenger is None:
        raise RegistryStateError(f"model {name!r} has no challenger; train a new version first")
    if challenger == info.champion:
        raise RegistryStateError(f"version {challenger} of {name!r} is already the champion")
    y = pd.Series(y, index=X.index, name=getattr(y, "name", None) or "__target__")
    labelled = pd.concat([X, y], axis=1)
    versions = (info.champion,) if unseen_by_challenger else (info.champion, challenger)
    fresh = unseen_rows(registry, name, labelled, versions)
    fresh = fresh[fresh[y.name].notna()]
    if len(fresh) < MIN_ROWS:
        raise ModelError(
            f"only {len(fresh)} of {len(labelled)} labelled rows were not used to train "
            f"version {info.champion} or {challenger} of {name!r}; the A/B gate needs at "
            f"least {MIN_ROWS} unseen rows"
        )
    X, y = fresh.drop(columns=[y.name]), fresh[y.name]
    # while the test runs, no earlier decision on this version counts
    registry.client.set_model_version_tag(name, str(challenger), AB_DECISION_TAG, "pending")
    recorded = info.version(info.champion).task
    task: Literal["classification", "regression"] | None = (
        "classification" if recorded == "classification"
        else "regression" if recorded == "regression" else None
    )
    result = ab_test(registry.load_model(name, version=info.champion),
                     registry.load_model(name, version=challenger), X, y, task=task, alpha=alpha)
    run_id = log_ab_result(result, name, info.champion, challenger,
                           tracking_uri=registry.tracking_uri)
    for key, value in (("hub.ab_run", run_id), (AB_CHAMPION_TAG, str(info.champion)),
                       (AB_DECISION_TAG, result.decision)):
        registry.client.set_model_version_tag(name, str(challenger), key, value)

    action: Action
    unfair = registry.fairness_block(name, challenger) if result.decision == "promote" else None
    if result.decision != "promote":
        action = "held"
        explanation = f"held version {challenger}: {result.explanation}"
    elif unfair:
        action = "held"
        explanation = (f"held version {challenger} on fairness: {unfair}; run `hub models "
                       f"fairness {name} DATASET --version {challenger}` once it is fixed (the "
                       f"A/B test favoured it: {result.explanation})")
    elif promotes:
        action = "promoted"
        explanation = (f"promoted version {challenger} over {info.champion} ({mode} mode; undo "
                       f"with `hub models rollback {name}`): {result.explanation}")
    else:
        registry.client.set_model_version_tag(name, str(challenger), "hub.proposal", "promote")
        action = "proposed"
        why = ("assisted mode" if mode == "assisted" else
               f"{mode} mode, but model promotion is not in HUB_AUTONOMOUS_DOMAINS")
        explanation = (f"proposed version {challenger} for promotion ({why}: approve "
                       f"with `hub models promote {name} {challenger}`): {result.explanation}")
    # recorded before acting: a promotion that cannot be audited does not happen
    AuditLog().record(
        agent="ab_gate", mode=mode, action=f"{action} {name} v{challenger}",
        explanation=explanation, propensity=1.0,  # a deterministic rule
        observation={"model": name, "champion": info.champion, "challenger": challenger,
                     "ab_run": run_id, "fairness": unfair or "not blocking",
                     **result.to_dict()},
    )
    if action == "promoted":
        registry.promote(name, challenger, reason=f"A/B gate ({mode}): {result.explanation}")
    logger.info("A/B gate %s: %s", name, explanation)
    return GateOutcome(name, info.champion, challenger, result, run_id, mode, action, explanation)
