"""Loaders that turn a source's files into a canonical :class:`~recgpt.data.dataset.Dataset`.

Loaders are registered in :data:`recgpt.registry.loaders` (``amazon-office.v1``, ``taobao.v1``,
``custom.v1``); :func:`load_source` finds one by name. See :mod:`recgpt.data.loaders.base` for the contract.
"""

from __future__ import annotations

from pathlib import Path

from recgpt.data.config import CustomMapping
from recgpt.data.dataset import Dataset
from recgpt.data.loaders.amazon import load_amazon_office
from recgpt.data.loaders.base import Loader
from recgpt.data.loaders.custom import load_custom
from recgpt.data.loaders.errors import LoadError, SkipReport
from recgpt.data.loaders.taobao import load_taobao


def get_loader(source: str) -> Loader:
    """The registered loader named ``source`` (a family such as "custom" or a full name "custom.v1")."""
    from recgpt import registry

    return registry.loaders.get(source)()


def source_path(source: str, path: str | Path | None) -> Path:
    """``path``, or the source's bundled copy; LoadError when the source has none."""
    if path is not None:
        return Path(path)
    default = get_loader(source).default_path
    if default is None:
        raise LoadError(source, None, None, "this source has no bundled copy: give its path (the column-mapping "
                        "YAML for custom data)")
    return Path(default)


def load_source(source: str, path: str | Path | None = None, report: SkipReport | None = None) -> Dataset:
    """Load ``source`` from ``path`` (default: its bundled copy); skipped rows are counted in ``report``."""
    return get_loader(source).load(source_path(source, path), report)


def source_files(source: str, path: str | Path | None = None) -> list[Path]:
    """Every file loading ``source`` reads (fingerprinted by the pipeline's data stage)."""
    return get_loader(source).source_files(source_path(source, path))


__all__ = [
    "CustomMapping", "LoadError", "Loader", "SkipReport", "get_loader", "load_amazon_office", "load_custom",
    "load_source", "load_taobao", "source_files", "source_path",
]
