"""The model registry: versions, the ``champion``/``challenger`` aliases, archive and repair.

MLflow's registry is the store (same SQLite file as tracking by default). hub's rules on top:

- a trained model becomes a new version (versions are never overwritten or deleted by hub,
  except by an explicit permanent delete of the whole model);
- the first version becomes ``champion``; every later one becomes ``challenger``; only
  ``promote`` (called by the A/B gate or a person) moves ``champion``, recording the previous
  one in the model tag ``hub.champion_history`` so ``rollback`` can restore it;
- a version that declares sensitive attributes (tag ``hub.sensitive``, also kept on the model
  so later versions inherit the declaration) may become champion only with a passed fairness
  check (``hub.fairness_decision = pass``, see ``models.fairness``): ``promote``
  refuses it otherwise, and such a first version is registered as ``challenger``, not
  ``champion``;
- ``delete_model`` archives: it tags the model ``hub.archived=true`` and keeps its versions and
  aliases, so ``restore_model`` brings it back as it was; archived models are hidden from
  ``list_models`` and never retrained. ``delete_model(permanent=True)`` deletes for good;
- a run left RUNNING by a process that died (killed mid-training) never registered anything
  (a version is created only after its artifacts are complete); ``repair`` marks such runs
  KILLED.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from hub_kernel.exceptions import ModelError, RegistryStateError
from hub_kernel.models.locking import is_lock_model, model_lock
from hub_kernel.models.records import ModelInfo, ModelSummary, VersionInfo
from hub_kernel.models.tags import (
    AB_CHAMPION_TAG,
    AB_DECISION_TAG,
    ARCHIVED_TAG,
    HISTORY_TAG,
    SENSITIVE_TAG,
    fairness_status,
    tag_float,
    tag_names,
)
from hub_kernel.models.tracking import STALE_AFTER, TrackingStore, repair_runs, translate_errors
from hub_kernel.safety.audit import AuditLog

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel

logger = logging.getLogger("hub_kernel")

CHAMPION = "champion"
CHALLENGER = "challenger"
_HISTORY_LIMIT = 50
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # fullmatch: "$" would pass "x\n"
#: version tag: a token unique to one registration (finds it again if its answer was lost)
REGISTRATION_TAG = "hub.registration"


def check_name(name: str) -> str:
    """A model name: letters, digits, ``.``, ``_`` and ``-`` (at most 100), first alphanumeric."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ModelError(
            f"invalid model name {name!r}: use letters, digits, '.', '_' and '-' (at most 100 "
            "characters, starting with a letter or digit)"
        )
    return name


def _time(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, tz=UTC) if ms else None


def _missing(exc: Exception) -> bool:
    code = getattr(exc, "error_code", "")
    return code == "RESOURCE_DOES_NOT_EXIST" or (
        code == "INVALID_PARAMETER_VALUE" and "not found" in str(exc)
    )


class ModelRegistry:
    """hub's view of the MLflow model registry at ``tracking_uri`` (default: HUB_HOME's)."""

    def __init__(self, *, tracking_uri: str | None = None) -> None:
        self.tracking_uri = tracking_uri
        self._store: TrackingStore | None = None

    @property
    def store(self) -> TrackingStore:
        if self._store is None:
            self._store = TrackingStore.from_settings(self.tracking_uri).open()
        return self._store

    @property
    def client(self) -> MlflowClient:
        return self.store.client

    # -- reading -------------------------------------------------------------------------
    def _registered(self, name: str) -> RegisteredModel:
        from mlflow.exceptions import MlflowException

        check_name(name)
        try:
            return self.client.get_registered_model(name)
        except MlflowException as exc:
            if _missing(exc):
                raise ModelError(
                    f"no model named {name!r}; `hub models list` shows the models"
                ) from None
            raise

    def _versions(self, name: str) -> list[ModelVersion]:
        found: list[ModelVersion] = []
        token = None
        while True:
            page = self.client.search_model_versions(
                f"name = '{name}'", max_results=1000, page_token=token
            )
            found.extend(page)
            token = page.token
            if not token:
                break
        return sorted(found, key=lambda v: int(v.version))

    def _all_registered(self) -> list[RegisteredModel]:
        found: list[RegisteredModel] = []
        token = None
        while True:
            page = self.client.search_registered_models(max_results=1000, page_token=token)
            found.extend(m for m in page if not is_lock_model(m.name))
            token = page.token
            if not token:
                break
        return sorted(found, key=lambda m: m.name)

    @staticmethod
    def _aliases(model: RegisteredModel) -> dict[str, int]:
        return {alias: int(v) for alias, v in (model.aliases or {}).items()}

    @staticmethod
    def _history(model: RegisteredModel) -> list[int]:
        try:
            return [int(v) for v in json.loads((model.tags or {}).get(HISTORY_TAG, "[]"))]
        except (ValueError, TypeError):
            return []

    @staticmethod
    def is_archived(model: RegisteredModel) -> bool:
        return (model.tags or {}).get(ARCHIVED_TAG, "false").lower() == "true"

    @translate_errors("listing models")
    def list_models(self, *, include_archived: bool = False) -> list[ModelSummary]:
        """Every registered model (archived ones only with ``include_archived=True``)."""
        summaries = []
        for model in self._all_registered():
            archived = self.is_archived(model)
            if archived and not include_archived:
                continue
            aliases = self._aliases(model)
            versions = self._versions(model.name)
            champion = aliases.get(CHAMPION)
            by_number = {int(v.version): v for v in versions}
            tags = by_number[champion].tags if champion in by_number else {}
            latest = by_number[max(by_number)].tags if by_number else {}
            summaries.append(ModelSummary(
                name=model.name,
                latest_version=max(by_number) if by_number else None,
                champion=champion,
                challenger=aliases.get(CHALLENGER),
                primary_metric=tags.get("hub.primary_metric") or latest.get("hub.primary_metric"),
                champion_score=tag_float(tags.get("hub.primary_value")),
                archived=archived,
                n_versions=len(by_number),
                task=tags.get("hub.task") or latest.get("hub.task"),
            ))
        return summaries

    @translate_errors("reading a model")
    def get_model_info(self, name: str) -> ModelInfo:
        """All versions of model ``name`` with runs, metrics, aliases and data fingerprints."""
        from mlflow.exceptions import MlflowException

        model = self._registered(name)
        aliases = self._aliases(model)
        by_version: dict[int, list[str]] = {}
        for alias, number in aliases.items():
            by_version.setdefault(number, []).append(alias)
        versions = []
        for mv in self._versions(name):
            metrics: dict[str, float] = {}
            run_status = None
            if mv.run_id:
                try:
                    run = self.client.get_run(mv.run_id)
                    metrics = dict(run.data.metrics)
                    run_status = run.info.status
                except MlflowException:
                    logger.warning("the run %s of %s v%s is gone", mv.run_id, name, mv.version)
            tags = dict(mv.tags or {})
            versions.append(VersionInfo(
                version=int(mv.version),
                run_id=mv.run_id,
                created_at=_time(mv.creation_timestamp),
                aliases=tuple(sorted(by_version.get(int(mv.version), []))),
                status=str(mv.status),
                run_status=run_status,
                metrics=metrics,
                primary_metric=tags.get("hub.primary_metric"),
                score=tag_float(tags.get("hub.primary_value")),
                task=tags.get("hub.task"),
                dataset_fingerprint=tags.get("hub.dataset_fingerprint"),
                dataset_id=tags.get("hub.dataset_id") or None,
                dataset_name=tags.get("hub.dataset_name") or None,
                target=tags.get("hub.target"),
                source=mv.source or "",
                tags=tags,
            ))
        return ModelInfo(
            name=model.name,
            archived=self.is_archived(model),
            champion=aliases.get(CHAMPION),
            challenger=aliases.get(CHALLENGER),
            champion_history=tuple(self._history(model)),
            created_at=_time(model.creation_timestamp),
            tags=dict(model.tags or {}),
            versions=tuple(versions),
        )

    def load_model(self, name: str, alias: str = CHAMPION, *, version: int | None = None) -> Any:
        """The fitted scikit-learn pipeline of ``name`` at ``alias`` (or an exact ``version``)."""
        model = self._registered(name)
        if version is None:
            aliases = self._aliases(model)
            if alias not in aliases:
                raise RegistryStateError(
                    f"model {name!r} has no {alias} version (aliases: "
                    f"{', '.join(sorted(aliases)) or 'none'}); pass version=N"
                )
            version = aliases[alias]
        return self._load(name, version)

    @translate_errors("loading a model")
    def _load(self, name: str, version: int) -> Any:
        """Every load of a model goes here: skops only, hub's allowlist of types, and the
        SHA-256 recorded at registration (``models.artifact``); never mlflow's pickle path."""
        from hub_kernel.models.artifact import load_registered

        return load_registered(self.store, name, int(version))

    @translate_errors("migrating a model")
    def migrate(self, name: str, version: int | None = None) -> dict[int, str]:
        """Record the SHA-256 of versions registered before hub recorded it, after checking
        each is skops with allowed types only (``models.artifact.migrate_version``); a version
        that fails is reported, not changed. Returns, per version, what was done."""
        from hub_kernel.models.artifact import migrate_version

        self._registered(name)
        numbers = ([int(version)] if version is not None
                   else [int(v.version) for v in self._versions(name)])
        done: dict[int, str] = {}
        for number in numbers:
            try:
                done[number] = migrate_version(self.store, name, number)
            except ModelError as exc:
                done[number] = f"refused: {exc}"
        AuditLog().record(agent="person", action=f"migrate {name}",
                          explanation="; ".join(f"v{k}: {v}" for k, v in done.items())[:5000],
                          observation={"model": name, "versions": list(done)})
        return done

    # -- fairness ------------------------------------------------------------------------
    def declared_sensitive(self, name: str, version: int | None = None) -> list[str]:
        """The sensitive attributes declared on model ``name`` (and on its ``version``, when
        given); empty if none, or no such model."""
        from mlflow.exceptions import MlflowException

        check_name(name)
        try:
            model = self.client.get_registered_model(name)
            found = (self.client.get_model_version(name, str(int(version)))
                     if version is not None else None)
        except MlflowException as exc:
            if _missing(exc):
                return []
            raise ModelError(f"registry at {self.store.shown_uri} failed: {exc}") from exc
        names = tag_names((model.tags or {}).get(SENSITIVE_TAG))
        if found is not None:
            names += tag_names((found.tags or {}).get(SENSITIVE_TAG))
        return list(dict.fromkeys(names))

    def declare_sensitive(self, name: str, attributes: tuple[str, ...] | list[str]) -> list[str]:
        """Add ``attributes`` to the sensitive attributes declared on model ``name`` (never
        removes one); returns the declaration."""
        with model_lock(self.store, name):  # two trainings at once: neither loses its own
            declared = list(dict.fromkeys([*self.declared_sensitive(name), *attributes]))
            self.client.set_registered_model_tag(name, SENSITIVE_TAG, json.dumps(declared))
        return declared

    @translate_errors("reading the fairness status")
    def fairness_block(self, name: str, version: int) -> str | None:
        """Why ``version`` of ``name`` may not be promoted on fairness grounds (``None``:
        nothing blocks it; see ``fairness_status``)."""
        model = self._registered(name)
        found = self.client.get_model_version(name, str(int(version)))
        _, block = fairness_status(dict(model.tags or {}), dict(found.tags or {}))
        return f"version {version} of {name!r}: {block}" if block else None

    # -- writing -------------------------------------------------------------------------
    def ensure_trainable(self, name: str) -> None:
        """``RegistryStateError`` if ``name`` is archived (training would revive it silently)."""
        from mlflow.exceptions import MlflowException

        check_name(name)
        try:
            model = self.client.get_registered_model(name)
        except MlflowException as exc:
            if _missing(exc):
                return
            raise ModelError(f"registry at {self.store.shown_uri} failed: {exc}") from exc
        if self.is_archived(model):
            raise RegistryStateError(
                f"model {name!r} is archived; restore it first (`hub models restore {name}`) "
                "or train under another name"
            )

    def register_version(
        self, name: str, *, source: str, run_id: str, model_id: str | None,
        tags: dict[str, str],
    ) -> tuple[int, str]:
        """Register ``source`` as a new version of ``name`` and alias it.

        The version becomes ``champion`` when the model has none, else ``challenger``, decided
        under the model's registry lock (``models.locking``). Returns ``(version, alias)``. The
        number comes from the store, which allocates them one at a time (on a server too). When
        a step fails the new version (and a model created for it) is removed again, so the
        registry never keeps a half-registered version.
        """
        from mlflow.exceptions import MlflowException

        client = self.client
        created_model = False
        try:
            model = client.get_registered_model(name)
        except MlflowException as exc:
            if not _missing(exc):
                raise
            try:
                client.create_registered_model(
                    name, tags={"hub.task": tags.get("hub.task", "")},
                    description="Trained by hub; aliases champion/challenger.",
                )
                created_model = True
            except MlflowException:  # created meanwhile by another process
                pass
            model = client.get_registered_model(name)
        if self.is_archived(model):
            raise RegistryStateError(f"model {name!r} is archived; restore it first")
        mv = None
        tags = {**tags, REGISTRATION_TAG: uuid.uuid4().hex}
        try:
            mv = self._create_version(name, source, run_id, model_id, tags)
            number = int(mv.version)
            # a version that failed (or skipped) its fairness check never leads on its own
            _, block = fairness_status(dict(model.tags or {}), dict(tags))
            if block is not None:
                return number, self._alias_challenger(name, number)
            return number, self._alias_new_version(name, number)
        except BaseException:
            self._undo_registration(name, mv, created_model)
            raise

    def _alias_new_version(self, name: str, number: int) -> str:
        """``champion`` if the model has none, else ``challenger`` (the newest version),
        decided under the model's registry lock."""
        client = self.client
        with model_lock(self.store, name):
            if CHAMPION not in self._aliases(client.get_registered_model(name)):
                client.set_registered_model_alias(name, CHAMPION, str(number))
                return CHAMPION
            return self._alias_challenger(name, number)

    def _alias_challenger(self, name: str, number: int) -> str:
        """``challenger`` (if the newest), never ``champion``: for a version whose fairness
        check did not pass."""
        client = self.client
        with model_lock(self.store, name):  # re-entrant
            current = self._aliases(client.get_registered_model(name)).get(CHALLENGER)
            if current is None or current < number:
                client.set_registered_model_alias(name, CHALLENGER, str(number))
        return CHALLENGER

    def _create_version(self, name: str, source: str, run_id: str, model_id: str | None,
                        tags: dict[str, str]) -> ModelVersion:
        """One new version, exactly once. The MLflow client resends a request whose answer it
        did not get: a registration the store made twice is found by its token and the later
        copy removed; one whose answer was lost for good is found and used."""
        token = tags[REGISTRATION_TAG]
        try:
            with self.store.fluent():  # a models:/ source is resolved through mlflow's globals
                created = self.client.create_model_version(name, source, run_id=run_id,
                                                           tags=tags, model_id=model_id)
        except Exception:
            found = self._registered_by(name, token)
            if not found:
                raise
            created = found[0]
        found = self._registered_by(name, token)
        for extra in found[1:]:
            logger.warning("removing version %s of %s: a repeated request registered it twice "
                           "(kept version %s)", extra.version, name, found[0].version)
            self.client.delete_model_version(name, extra.version)
        return found[0] if found else created

    def _registered_by(self, name: str, token: str) -> list[ModelVersion]:
        found = self.client.search_model_versions(
            f"name = '{name}' and tags.`{REGISTRATION_TAG}` = '{token}'")
        return sorted(found, key=lambda v: int(v.version))

    def _undo_registration(self, name: str, mv: ModelVersion | None, created: bool) -> None:
        client = self.client
        try:
            if mv is not None:
                client.delete_model_version(name, mv.version)
            if created and not self._versions(name):  # nobody else registered meanwhile
                client.delete_registered_model(name)
        except Exception:
            logger.exception("could not undo the registration of %s v%s", name,
                             getattr(mv, "version", "?"))

    @translate_errors("promoting a model")
    def promote(self, name: str, version: int, *, reason: str | None = None,
                override: bool = False, approved_by: str | None = None) -> ModelSummary:
        """Make ``version`` the champion of ``name``; the previous champion can be restored by
        ``rollback``. A promoted challenger loses the ``challenger`` alias.

        Only a version the A/B gate decided to promote (``hub.ab_decision`` tag, set by
        ``models.lifecycle.gate.run_gate``) may be promoted, and one that declares sensitive
        attributes only with a passed fairness check, unless a person ``override``s with a
        ``reason`` (kept on the version). The audit entry records the fairness status. The
        checks and the change happen under the model's registry lock (``models.locking``): two
        promotions, or a promotion and a rollback, from different processes never interleave.
        """
        check_name(name)
        with model_lock(self.store, name):
            current = self._promote(name, int(version), reason=reason, override=override,
                                    approved_by=approved_by)
        from hub_kernel.core.bus import default_bus

        default_bus().publish("model_promoted", name=name, version=int(version),
                              previous=current, override=override)
        return self._summary(name)

    def _promote(self, name: str, version: int, *, reason: str | None, override: bool,
                 approved_by: str | None) -> int | None:
        """``promote``'s checks and changes (the lock held); returns the previous champion."""
        from mlflow.exceptions import MlflowException

        model = self._registered(name)
        if self.is_archived(model):
            raise RegistryStateError(f"model {name!r} is archived; restore it first")
        version = int(version)
        try:
            found = self.client.get_model_version(name, str(version))
        except MlflowException as exc:
            if _missing(exc):
                raise ModelError(f"model {name!r} has no version {version}") from None
            raise
        aliases = self._aliases(model)
        current = aliases.get(CHAMPION)
        if current == version:
            raise RegistryStateError(f"version {version} is already the champion of {name!r}")
        tags = found.tags or {}
        decision = tags.get(AB_DECISION_TAG)
        if decision == "promote" and tags.get(AB_CHAMPION_TAG) != str(current):
            decision = f"promote, but against version {tags.get(AB_CHAMPION_TAG)}, " \
                       f"not the current champion {current}"
        if override and not (reason and reason.strip()):
            raise RegistryStateError("overriding the A/B gate needs a reason (--reason)")
        if not override and decision != "promote":
            raise RegistryStateError(
                f"version {version} of {name!r} has not passed the A/B gate "
                f"(decision: {decision or 'not tested'}); run `hub models ab {name} DATASET` "
                f"or, as a person, `hub models promote {name} {version} --override --reason ...`"
            )
        fairness, block = fairness_status(dict(model.tags or {}), dict(tags))
        if block and not override:
            raise RegistryStateError(
                f"version {version} of {name!r} may not be promoted: {block}. Check it on "
                f"labelled rows it did not train on with `hub models fairness {name} DATASET "
                f"--version {version}` (or retrain it fairer), or, as a person, "
                f"`hub models promote {name} {version} --override --reason ...`"
            )
        if block:
            fairness += ", overridden"
        AuditLog().record(  # before the alias moves: nothing unaudited happens
            agent="person" if approved_by else "ab_gate", action=f"promote {name} v{version}",
            mode="override" if override else None, approved_by=approved_by,
            explanation=(reason or "") + (f" (was v{current})" if current else "")
            + f"; fairness: {fairness}",
            observation={"model": name, "version": version, "champion": current,
                         "decision": decision, "fairness": fairness},
        )
        if current is not None:  # history first: a crash before the alias moves is harmless
            history = [*self._history(model), current][-_HISTORY_LIMIT:]
            self.client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
        self.client.set_registered_model_alias(name, CHAMPION, str(version))
        if aliases.get(CHALLENGER) == version:
            self.client.delete_registered_model_alias(name, CHALLENGER)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        self.client.set_model_version_tag(name, str(version), "hub.promoted_at", stamp)
        self.client.set_model_version_tag(name, str(version), "hub.promoted_by",
                                          "override" if override else "ab_gate")
        # a gate decision is used once: after a rollback the version must pass the gate again
        if AB_DECISION_TAG in tags:
            self.client.set_model_version_tag(name, str(version), AB_DECISION_TAG, "used")
        if reason:
            self.client.set_model_version_tag(name, str(version), "hub.promotion_reason",
                                              reason[:5000])
        logger.info("promoted %s v%s to champion (was %s)", name, version, current)
        return current

    @translate_errors("rolling back a model")
    def rollback(self, name: str, *, approved_by: str | None = None) -> ModelSummary:
        """Restore the champion before the last promotion (``RegistryStateError`` if none),
        under the model's registry lock."""
        check_name(name)
        with model_lock(self.store, name):
            self._rollback(name, approved_by=approved_by)
        return self._summary(name)

    def _rollback(self, name: str, *, approved_by: str | None) -> None:
        model = self._registered(name)
        if self.is_archived(model):
            raise RegistryStateError(f"model {name!r} is archived; restore it first")
        current = self._aliases(model).get(CHAMPION)
        history = self._history(model)
        existing = {int(v.version) for v in self._versions(name)}
        while history and (history[-1] == current or history[-1] not in existing):
            history.pop()  # a promotion cut short, or a version no longer there
        if not history:
            raise RegistryStateError(
                f"model {name!r} has no earlier champion to roll back to"
            )
        previous = history.pop()
        AuditLog().record(agent="person" if approved_by else "rollback",
                          action=f"rollback {name} v{current} -> v{previous}",
                          approved_by=approved_by,
                          explanation=f"champion of {name!r} restored to version {previous}",
                          observation={"model": name, "from": current, "to": previous})
        self.client.set_registered_model_alias(name, CHAMPION, str(previous))
        self.client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
        if self._aliases(self.client.get_registered_model(name)).get(CHALLENGER) == previous:
            self.client.delete_registered_model_alias(name, CHALLENGER)
        if current is not None:
            self.client.set_model_version_tag(
                name, str(current), "hub.rolled_back_at",
                datetime.now(UTC).isoformat(timespec="seconds"),
            )
        logger.info("rolled %s back to v%s (was v%s)", name, previous, current)

    @translate_errors("deleting a model")
    def delete_model(self, name: str, *, permanent: bool = False) -> None:
        """Archive ``name`` (versions and aliases kept), or with ``permanent=True`` delete the
        registered model and all its versions for good (their runs stay in tracking)."""
        self._registered(name)
        if permanent:
            self.client.delete_registered_model(name)
            logger.warning("deleted model %s permanently", name)
            return
        self.client.set_registered_model_tag(name, ARCHIVED_TAG, "true")
        self.client.set_registered_model_tag(
            name, "hub.archived_at", datetime.now(UTC).isoformat(timespec="seconds")
        )
        logger.info("archived model %s", name)

    @translate_errors("restoring a model")
    def restore_model(self, name: str) -> ModelSummary:
        """Undo the archiving of ``name``."""
        self._registered(name)
        self.client.set_registered_model_tag(name, ARCHIVED_TAG, "false")
        return self._summary(name)

    def _summary(self, name: str) -> ModelSummary:
        for summary in self.list_models(include_archived=True):
            if summary.name == name:
                return summary
        raise ModelError(f"no model named {name!r}")

    # -- repair --------------------------------------------------------------------------
    def repair(self, *, stale_after: timedelta = STALE_AFTER) -> list[str]:
        """Mark as KILLED hub's runs left RUNNING by a process that is gone (see
        ``models.tracking.repair_runs``); returns their run ids. Nothing is registered by such a
        run (registration is its last step), so the registry itself needs no repair."""
        return repair_runs(self.store, stale_after=stale_after)
