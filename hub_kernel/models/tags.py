"""The tags hub keeps on registered models and versions, and what they say.

The registry (``models.registry``), training, the A/B gate and the fairness check all read and
write these tags; the names live here, below all of them, so none imports another for a name.
``fairness_status`` is the promotion rule on fairness read from those tags.
"""

from __future__ import annotations

import json

#: model tag: ``true`` once archived (hidden from listings, never retrained)
ARCHIVED_TAG = "hub.archived"
#: model tag: JSON list of the earlier champions, for ``rollback``
HISTORY_TAG = "hub.champion_history"
#: version tag set on a challenger by the A/B gate (``promote``, ``hold``, ``pending``, ``used``)
AB_DECISION_TAG = "hub.ab_decision"
#: version tag: the champion version that A/B decision was made against
AB_CHAMPION_TAG = "hub.ab_champion"
#: version (and model) tag: JSON list of the declared sensitive attributes
SENSITIVE_TAG = "hub.sensitive"
#: version tag: ``pass``, ``fail``, ``not checked`` or ``error``
FAIRNESS_DECISION_TAG = "hub.fairness_decision"
#: version tag: the MLflow run holding the fairness metrics and ``hub/fairness.json``
FAIRNESS_RUN_TAG = "hub.fairness_run"
FAIRNESS_EXPLANATION_TAG = "hub.fairness_explanation"
FAIRNESS_THRESHOLD_TAG = "hub.fairness_threshold"


def tag_names(text: str | None) -> list[str]:
    """A JSON list of column names from a tag (empty when absent or unreadable)."""
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def tag_float(text: str | None) -> float | None:
    """A number from a tag (``None`` when absent or unreadable)."""
    try:
        return float(text) if text else None
    except ValueError:
        return None


def fairness_status(model_tags: dict[str, str], version_tags: dict[str, str]
                    ) -> tuple[str, str | None]:
    """``(status, block)``: the fairness status of a version in words (``"not declared"``,
    ``"pass (sex)"``, ``"fail (sex)"``...) and why it may not be promoted (``None``: nothing
    blocks it). The attributes declared on the model or the version must all have been checked
    by a passed fairness check of this version."""
    checked = tag_names(version_tags.get(SENSITIVE_TAG))
    declared = list(dict.fromkeys([*tag_names(model_tags.get(SENSITIVE_TAG)), *checked]))
    if not declared:
        return "not declared", None
    decision = version_tags.get(FAIRNESS_DECISION_TAG) or "not checked"
    status = f"{decision} ({', '.join(checked or declared)})"
    why = version_tags.get(FAIRNESS_EXPLANATION_TAG, "")
    uncovered = [a for a in declared if a not in checked]
    used = tag_float(version_tags.get(FAIRNESS_THRESHOLD_TAG))
    from hub_kernel.core.config import get_settings

    allowed = get_settings().fairness_threshold
    if decision == "pass" and used is not None and used > allowed + 1e-12:
        return status, (f"it declares sensitive attributes ({', '.join(declared)}) and its "
                        f"fairness check passed only under a looser threshold ({used:g} > "
                        f"HUB_FAIRNESS_THRESHOLD {allowed:g}); check it again without "
                        "--threshold, or have a person override with a reason")
    if decision == "pass" and not uncovered:
        return status, None
    if decision == "pass":
        block = (f"its fairness check covered {', '.join(checked)} but not "
                 f"{', '.join(uncovered)}, also declared sensitive")
    elif decision == "fail":
        block = f"it failed its fairness check: {why}"
    elif decision == "not checked":
        block = "its fairness check was not run" + (f" ({why})" if why else "")
    else:
        block = f"its fairness check could not be run ({decision}): {why}"
    return status, f"it declares sensitive attributes ({', '.join(declared)}) and {block}"
