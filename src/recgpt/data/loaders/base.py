"""The loader contract: how a data source becomes a canonical :class:`~recgpt.data.dataset.Dataset`.

A loader is a small class registered in :data:`recgpt.registry.loaders` (``amazon-office.v1``, ...):

- ``load(path, report)``: read the source at ``path`` (a folder, a file, or a mapping YAML), raise
  :class:`~recgpt.data.loaders.errors.LoadError` naming file, line and field for bad input (or count a
  skipped row in ``report`` when the source allows skipping), return a validated ``Dataset``;
- ``source_files(path)``: every file ``load`` reads, so a run notices when any of them changes;
- ``default_path``: the bundled copy, or None when the user must give a path.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

from recgpt.data.dataset import Dataset
from recgpt.data.loaders.errors import SkipReport


@runtime_checkable
class Loader(Protocol):
    default_path: ClassVar[str | None]

    def load(self, path: Path, report: SkipReport | None = None) -> Dataset:
        """The canonical, validated data set of the source at ``path``."""

    def source_files(self, path: Path) -> list[Path]:
        """Every file :meth:`load` reads from ``path``."""
