"""The one registry: versioned names, latest-version resolution, errors that list what exists, entry points."""

from __future__ import annotations

import importlib.metadata

import pytest

from recgpt import registry
from recgpt.errors import UnknownNameError
from recgpt.registry import Registry, RegistryError


def test_every_extension_point_lists_versioned_names():
    assert set(registry.REGISTRIES) == {"backends", "retrievers", "indexes", "loaders", "executors", "trainers",
                                       "subtasks", "seral_scorers"}
    for reg in registry.REGISTRIES.values():
        for name in reg.names():
            family, version = registry.split_name(name)
            assert name == f"{family}.v{version}"


def test_a_family_means_its_latest_version_and_a_full_name_pins_one():
    reg = Registry("widget", "recgpt.test-widgets")
    reg.register("spinner.v1", "first")
    reg.register("spinner.v2", "second")
    assert reg.resolve("spinner") == "spinner.v2" and reg.get("spinner") == "second"
    assert reg.get("spinner.v1") == "first"
    with pytest.raises(UnknownNameError, match="unknown widget 'spinner.v3'; registered: spinner.v1, spinner.v2"):
        reg.get("spinner.v3")
    with pytest.raises(RegistryError, match="not a versioned name"):
        reg.register("Spinner", "x")


def test_a_decorator_registers_and_name_of_finds_the_class():
    reg = Registry("widget", "recgpt.test-widgets")

    @reg.register("gear.v1")
    class Gear:
        pass

    assert reg.get("gear") is Gear and reg.name_of(Gear()) == "gear.v1" and reg.name_of(Gear) == "gear.v1"
    with pytest.raises(UnknownNameError, match="is not a registered widget"):
        reg.name_of(object())


def test_builtins_import_only_when_asked_for():
    reg = Registry("widget", "recgpt.test-widgets", {"lazy.v1": "recgpt.no_such_module:Thing"})
    assert reg.names() == ["lazy.v1"]  # listing imports nothing
    with pytest.raises(RegistryError, match="cannot import recgpt.no_such_module:Thing"):
        reg.get("lazy")


def test_another_package_adds_entries_through_entry_points(monkeypatch):
    point = importlib.metadata.EntryPoint("bpr.v1", "collections:OrderedDict", "recgpt.retrievers")
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group: [point] if group == "recgpt.retrievers" else [])
    reg = Registry("retriever", "recgpt.retrievers", {"tar.v1": "recgpt.retrieval.tar:TARRecommender"})
    assert reg.names() == ["bpr.v1", "tar.v1"]
    from collections import OrderedDict

    assert reg.get("bpr") is OrderedDict


def test_the_plugins_command_lists_every_registry():
    from typer.testing import CliRunner

    from recgpt.cli.main import app

    result = CliRunner().invoke(app, ["plugins"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in ("llama-cpp.v1", "openai.v1", "tar.v1", "ease.v1", "hnsw.v1", "custom.v1"):
        assert name in result.output
    assert CliRunner().invoke(app, ["plugins", "nope"]).exit_code == 2
