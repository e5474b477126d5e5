"""The source registry: built-ins, registered sources, entry-point plug-ins."""

import logging

import pandas as pd
import pytest

from hub_kernel.data import (
    CsvSource,
    Source,
    get_source,
    read_table,
    register_source,
    source_registry,
)
from hub_kernel.exceptions import DataError, RegistryError


def test_registry_knows_the_sources_and_names_them_when_asked_for_an_unknown_one():
    assert isinstance(get_source("csv"), CsvSource)
    assert {"csv", "excel", "json", "jsonl", "parquet"} <= set(source_registry.names())
    with pytest.raises(RegistryError, match="no source named 'feather'") as info:
        get_source("feather")
    for name in ("csv", "excel", "json", "jsonl", "parquet"):
        assert name in str(info.value)


def test_a_registered_source_reads_its_extension(tmp_path):
    class KeyValueSource(Source):
        name = "kv"
        extensions = (".kv",)

        def read(self, source, *, sheet=None, progress=False, **options):
            lines = source.read_bytes().decode().splitlines()
            pairs = [line.split("=", 1) for line in lines if line]
            return pd.DataFrame({"key": [k for k, _ in pairs], "value": [v for _, v in pairs]})

    register_source(KeyValueSource)
    try:
        path = tmp_path / "settings.kv"
        path.write_text("a=1\nb=2020-01-02\n")
        frame = read_table(path)
        assert frame["key"].tolist() == ["a", "b"]
        assert frame.attrs["hub_source"]["format"] == "kv"
        assert get_source("kv").extensions == (".kv",)
    finally:
        source_registry.unregister("kv")
    with pytest.raises(DataError, match=r"unsupported file type '\.kv'"):
        read_table(path)


def test_entry_point_sources_are_registered_and_broken_ones_skipped(monkeypatch, caplog):
    from importlib import metadata

    from hub_kernel.data.io.registry import SourceRegistry

    class Good:
        name = "good"
        value = "pkg:Good"

        def load(self):
            return type("GoodSource", (Source,), {"name": "good", "extensions": (".good",)})

    class Broken(Good):
        name = "broken"
        value = "pkg:Broken"

        def load(self):
            raise ImportError("no such module")

    monkeypatch.setattr(metadata, "entry_points", lambda group: [Good(), Broken()])
    registry = SourceRegistry()
    with caplog.at_level(logging.ERROR, logger="hub_kernel"):
        assert registry.names() == ["good"]
    assert "cannot load source 'broken'" in caplog.text
