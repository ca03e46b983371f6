"""Loaders that turn a source's files into a canonical :class:`~recgpt.data.dataset.Dataset`.

The registry maps a source name to its loader; ``recgpt data load --source NAME --path PATH`` uses it.
Each loader takes one path (a folder, or for "custom" the mapping YAML).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from recgpt.data.dataset import Dataset
from recgpt.data.loaders.amazon import load_amazon_office
from recgpt.data.loaders.custom import CustomMapping, load_custom
from recgpt.data.loaders.errors import LoadError, SkipReport
from recgpt.data.loaders.taobao import load_taobao

LOADERS: dict[str, Callable[[str | Path], Dataset]] = {
    "amazon-office": load_amazon_office,
    "taobao": load_taobao,
    "custom": load_custom,
}

DEFAULT_PATHS: dict[str, str] = {
    "amazon-office": "data/amazon-office",
    "taobao": "data/taobao-userbehavior-sample",
}


def load_source(source: str, path: str | Path | None = None) -> Dataset:
    """Load ``source`` (a key of :data:`LOADERS`) from ``path`` (default: the bundled copy)."""
    if source not in LOADERS:
        raise ValueError(f"unknown data source {source!r}; known: {', '.join(LOADERS)}")
    if path is None:
        if source not in DEFAULT_PATHS:
            raise ValueError(f"source {source!r} needs a path (the column-mapping YAML)")
        path = DEFAULT_PATHS[source]
    return LOADERS[source](path)


__all__ = [
    "LOADERS", "CustomMapping", "LoadError", "SkipReport", "load_amazon_office", "load_custom",
    "load_source", "load_taobao",
]
