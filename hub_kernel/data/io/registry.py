"""The source registry: the kinds of table file hub reads, by name.

A ``hub_kernel.core.registry.Registry[Source]`` plus the look-ups ``read_table`` needs to pick a
source (by extension, by media type, by sniffing the first bytes). The built-in sources are
registered on first use, in the order sniffing tries them (CSV, the loosest, last); packages may
add sources through the ``hub.sources`` entry-point group, loaded on first use too, as papermill
loads its engines. A plug-in registered under a built-in name replaces it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from hub_kernel.core.registry import Registry
from hub_kernel.data.io.base import Source
from hub_kernel.data.io.csv import CsvSource
from hub_kernel.data.io.excel import ExcelSource
from hub_kernel.data.io.json import JsonLinesSource, JsonSource
from hub_kernel.data.io.parquet import ParquetSource
from hub_kernel.exceptions import RegistryError

ENTRY_POINT_GROUP = "hub.sources"


def _instance(source: Any) -> Source:
    """A registered source: an instance, or a class instantiated once (duck-typed plug-ins are
    accepted, as they always were)."""
    return cast(Source, source() if isinstance(source, type) else source)


def _builtins() -> Iterable[tuple[str, Any]]:
    for source in (ParquetSource, ExcelSource, JsonLinesSource, JsonSource, CsvSource):
        yield source.name, source


class SourceRegistry(Registry[Source]):
    """The sources hub knows, by name, in the order they are tried when sniffing.

    ``SourceRegistry()`` is empty but for the entry-point plug-ins; ``source_registry`` is the
    one ``read_table`` uses, with the built-in sources.
    """

    def __init__(self, *, builtins: bool = False) -> None:
        super().__init__("source", entry_point_group=ENTRY_POINT_GROUP,
                         builtins=_builtins if builtins else None, check=_instance,
                         error=RegistryError, plugins_replace=True)

    def for_extension(self, suffix: str) -> Source | None:
        """The source reading files ending in ``suffix``; the latest registration wins."""
        suffix = suffix.lower()
        for source in reversed(self.values()):
            if suffix in source.extensions:
                return source
        return None

    def for_media_type(self, media_type: str | None) -> Source | None:
        """The first source declaring ``media_type`` (a download's Content-Type)."""
        if not media_type:
            return None
        for source in self.values():
            if media_type in source.media_types:
                return source
        return None

    def sniff(self, head: bytes) -> Source | None:
        """The first source recognising ``head``, the first bytes of an input."""
        for source in self.values():
            if source.sniff(head):
                return source
        return None

    def extensions(self) -> list[str]:
        """Every extension a registered source reads, sorted."""
        return sorted({ext for source in self.values() for ext in source.extensions})


source_registry = SourceRegistry(builtins=True)


def register_source(source: Source | type[Source], name: str | None = None) -> Source:
    """Register a source (an instance or a class) under ``name`` (default its own)."""
    return source_registry.register(source, name)


def get_source(name: str) -> Source:
    """The source registered as ``name``; raises ``RegistryError`` naming the known ones."""
    return source_registry.get(name)
