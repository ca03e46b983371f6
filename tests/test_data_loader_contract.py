"""Every registered data loader passes the shared suite of :mod:`suites.loader` on its bundled copy or
example. A loader registered without a case here fails ``test_every_registered_loader_has_a_case``."""

from __future__ import annotations

from conftest import AMAZON, EXAMPLE_MAPPING, TAOBAO

from recgpt import registry
from suites.loader import LoaderContract


class TestAmazonOfficeLoader(LoaderContract):
    name, path = "amazon-office", AMAZON


class TestTaobaoLoader(LoaderContract):
    name, path = "taobao", TAOBAO


class TestCustomLoader(LoaderContract):
    name, path = "custom", EXAMPLE_MAPPING


CASES = {case.name for case in (TestAmazonOfficeLoader, TestTaobaoLoader, TestCustomLoader)}


def test_every_registered_loader_has_a_case():
    assert set(registry.loaders.families()) <= CASES, "add a LoaderContract case for the new loader"
