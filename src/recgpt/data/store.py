"""Save and load a :class:`Dataset` as one Parquet file per table plus a small ``dataset.json``.

Layout (``folder`` is usually ``RunFolder.data``)::

    folder/dataset.json        {"name": ..., "tables": {"items": rows, ...}}
    folder/items.parquet  users.parquet  events.parquet  searches.parquet  holdout.parquet
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from recgpt.errors import MissingInputError
from recgpt.data.dataset import Dataset
from recgpt.data.schema import SCHEMAS

TABLES = tuple(SCHEMAS)


def save_dataset(dataset: Dataset, folder: str | Path) -> Path:
    """Write every table of ``dataset`` to ``folder`` (created if needed); return the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        table = getattr(dataset, name)
        tmp = folder / f".{name}.parquet.tmp"
        pq.write_table(table, tmp, compression="zstd")
        tmp.replace(folder / f"{name}.parquet")
    meta = {"name": dataset.name, "tables": dataset.summary()}
    (folder / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
    return folder


def load_dataset(folder: str | Path) -> Dataset:
    """Read a folder written by :func:`save_dataset`. Tables are conformed to their schemas."""
    folder = Path(folder)
    meta_path = folder / "dataset.json"
    if not meta_path.exists():
        raise MissingInputError(f"{folder}: not a data folder (no dataset.json); run `recgpt data load` first")
    meta = json.loads(meta_path.read_text())
    tables = {}
    for name in TABLES:
        path = folder / f"{name}.parquet"
        if not path.exists():
            raise MissingInputError(f"{path}: missing table {name!r}")
        tables[name] = pq.read_table(path)
    return Dataset(name=meta["name"], **tables)
