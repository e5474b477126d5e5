"""``Registry[T]``: named pluggable parts of one kind (sources, analyses, exporters, backends...).

One shape for every registry, like papermill's engine registry: ``register``, ``unregister``,
``get`` (an unknown name raises a ``HubError`` listing the known ones), ``names``, and plug-ins
from an entry-point group loaded on first use. Built-in parts may be loaded lazily too (``builtins``
is called once, on first use), which keeps importing a registry cheap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from hub_kernel.exceptions import HubError, RegistryError

T = TypeVar("T")
logger = logging.getLogger("hub_kernel")


class Registry(Generic[T]):
    """Parts of one ``kind`` by name, in registration order.

    ``check`` turns what is registered (often a class or an instance) into the stored part and
    raises ``RegistryError`` when it is not one; ``error`` is the ``HubError`` subclass raised for
    unknown names. Entry points never replace a part already registered under the same name
    unless ``plugins_replace`` is true.
    """

    def __init__(self, kind: str, *, plural: str | None = None,
                 entry_point_group: str | None = None,
                 builtins: Callable[[], Iterable[tuple[str, Any]]] | None = None,
                 check: Callable[[Any], T] | None = None,
                 error: type[HubError] = RegistryError,
                 plugins_replace: bool = False) -> None:
        self.kind = kind
        self.plural = plural or f"{kind}s"
        self.entry_point_group = entry_point_group
        self._builtins = builtins
        self._check = check
        self._error = error
        self._plugins_replace = plugins_replace
        self._parts: dict[str, T] = {}
        self._loaded = False

    # -- loading -------------------------------------------------------------------------
    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self._builtins is not None:
            for name, part in self._builtins():
                self._parts.setdefault(name, self._as_part(part))
        self.load_entry_points()

    def load_entry_points(self) -> None:
        """Register the parts installed packages declare in the entry-point group."""
        if not self.entry_point_group:
            return
        from importlib.metadata import entry_points

        for entry in entry_points(group=self.entry_point_group):
            try:
                part = self._as_part(entry.load())
            except Exception:  # a broken plug-in must not take the built-in parts down
                logger.exception("cannot load %s %r from %s", self.kind, entry.name, entry.value)
                continue
            if self._plugins_replace:
                self._parts[entry.name] = part
            else:
                self._parts.setdefault(entry.name, part)

    def _as_part(self, obj: Any) -> T:
        return self._check(obj) if self._check is not None else obj

    # -- the public surface ----------------------------------------------------------------
    def register(self, part: Any, name: str | None = None) -> T:
        """Register ``part`` under ``name`` (default: its ``name`` attribute); returns it."""
        self._ensure_loaded()
        stored = self._as_part(part)
        key = name or getattr(stored, "name", None)
        if not key:
            raise RegistryError(f"{self.kind} {part!r} has no name: set its `name`")
        self._parts[str(key)] = stored
        return stored

    def unregister(self, name: str) -> T:
        """Remove and return the part registered as ``name``."""
        self._ensure_loaded()
        try:
            return self._parts.pop(name)
        except KeyError:
            raise self.unknown(name) from None

    def get(self, name: str) -> T:
        """The part registered as ``name``; the registry's error listing the known ones if none."""
        self._ensure_loaded()
        try:
            return self._parts[name]
        except KeyError:
            raise self.unknown(name) from None

    def unknown(self, name: str) -> HubError:
        """The error for an unknown ``name``, listing the known ones."""
        known = ", ".join(self._parts) or "none"
        return self._error(f"no {self.kind} named {name!r}; known {self.plural}: {known}")

    def names(self) -> list[str]:
        self._ensure_loaded()
        return list(self._parts)

    def items(self) -> list[tuple[str, T]]:
        self._ensure_loaded()
        return list(self._parts.items())

    def values(self) -> list[T]:
        self._ensure_loaded()
        return list(self._parts.values())

    def __contains__(self, name: object) -> bool:
        self._ensure_loaded()
        return name in self._parts

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._ensure_loaded()
        return len(self._parts)
