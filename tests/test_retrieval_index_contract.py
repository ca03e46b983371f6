"""Every registered vector index passes the shared suite of :mod:`suites.index`. Small options per family
fit the 300-item test catalog; a new index family is tested with its defaults by being registered."""

from __future__ import annotations

from recgpt import registry
from recgpt.registry import split_name
from suites.index import IndexContract

OPTIONS = {"hnsw": {"m": 16, "ef_search": 64}, "ivf": {"nlist": 4, "nprobe": 4}}

for _name in registry.indexes.names():
    _family = split_name(_name)[0]
    globals()[f"TestIndex_{_family}"] = type(f"TestIndex_{_family}", (IndexContract,),
                                             {"name": _name, "options": OPTIONS.get(_family, {})})
