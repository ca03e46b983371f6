"""Every registered retriever (and the TAR behind every registered vector index) passes the shared contract
suite of :mod:`suites.retriever`. The classes are made from the registry, so a newly registered retriever is
tested by being registered; one that needs small settings to train fast on the planted data names them in
``SMALL`` (else its defaults are used)."""

from __future__ import annotations

import pytest

from recgpt import registry
from recgpt.errors import UnknownNameError
from recgpt.registry import split_name
from recgpt.retrieval.base import create
from recgpt.retrieval.config import TARConfig
from recgpt.retrieval.index import IndexedRecommender
from recgpt.retrieval.synthetic import PLANTED_TAR_SETTINGS
from suites.retriever import RetrieverContract

#: Small settings per retriever family for the planted data set.
SMALL = {"tar": {"config": TARConfig(**PLANTED_TAR_SETTINGS)},
         "sasrec": {"dim": 16, "n_layers": 1, "max_len": 10, "epochs": 100, "batch": 8, "lr": 1e-2,
                    "eval_every": 0}}
#: Small settings per index family (the planted catalog has 40 items).
INDEX_SMALL = {"hnsw": {"m": 8, "ef_search": 16}, "ivf": {"nlist": 2, "nprobe": 2}}
NOT_PERSONALISED = {"popular"}


def _retriever_class(name: str) -> type:
    family = split_name(name)[0]
    return type(f"TestRetriever_{family}", (RetrieverContract,), {
        "build": lambda self: create(name, **SMALL.get(family, {})),
        "personalised": family not in NOT_PERSONALISED,
    })


def _indexed_class(index: str) -> type:
    family = split_name(index)[0]
    return type(f"TestTARBehindIndex_{family}", (RetrieverContract,), {
        "build": lambda self: IndexedRecommender(create("tar", **SMALL["tar"]), index, **INDEX_SMALL.get(family, {})),
    })


for _name in registry.retrievers.names():
    globals()[f"TestRetriever_{split_name(_name)[0]}"] = _retriever_class(_name)
for _index in registry.indexes.names():
    globals()[f"TestTARBehindIndex_{split_name(_index)[0]}"] = _indexed_class(_index)


class TestTARMeanPoolTower(RetrieverContract):
    """The report's own user tower (mean pooling), beside the default sequence tower."""

    def build(self):
        return create("tar", config=TARConfig(**PLANTED_TAR_SETTINGS, user_tower="mean", use_user_id=False))


def test_registry_names_every_builtin_retriever_with_a_version():
    assert {"popular.v1", "ease.v1", "itemknn.v1", "tar.v1", "sasrec.v1"} <= set(registry.retrievers.names())
    assert registry.retrievers.resolve("tar") == "tar.v1"
    with pytest.raises(UnknownNameError, match="unknown retriever 'nope'; registered: .*tar.v1"):
        create("nope")
