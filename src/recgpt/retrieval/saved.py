"""Saved retrievers: a folder holding ``model.json`` (registry name, format, metadata as JSON) and
``model.safetensors`` (every array), plus ``index/`` when a vector index was saved with the model.

Loading reads ``model.json``, resolves the registry name (``tar.v1``) and hands the folder to that class's
``load``, so a folder always loads with the code that wrote it. Nothing is unpickled: a run folder from
someone else cannot execute code. Folders written by recgpt 0.1 (a pickled ``model.pt``) are refused with
the command that converts them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from recgpt.errors import MissingInputError, RecgptError

SAVED_MODEL = "model.json"
TENSORS = "model.safetensors"
LEGACY_PICKLE = "model.pt"
FORMAT = 2


class SavedModelError(RecgptError):
    """A saved model folder is missing, damaged, or in a format this version does not read."""


def write_saved(folder: str | Path, name: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Write ``meta`` (JSON-able) and ``arrays`` (numeric NumPy arrays) to ``folder`` under registry ``name``.
    Both files are written to temporary names first and renamed, the JSON last."""
    from safetensors.numpy import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = folder / TENSORS
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tensors) + ".tmp")
    os.replace(str(tensors) + ".tmp", tensors)
    document = json.dumps({"registry": name, "format": FORMAT, **meta}, ensure_ascii=False)
    (folder / (SAVED_MODEL + ".tmp")).write_text(document, encoding="utf-8")
    os.replace(folder / (SAVED_MODEL + ".tmp"), folder / SAVED_MODEL)


def read_saved(folder: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(metadata, arrays) of a folder written by :func:`write_saved`."""
    from safetensors.numpy import load_file

    folder = Path(folder)
    meta = read_meta(folder)
    try:
        arrays = load_file(str(folder / TENSORS))
    except (OSError, ValueError) as exc:  # safetensors raises SafetensorError (an OSError subclass) or ValueError
        raise SavedModelError(f"{folder / TENSORS}: cannot read the model's arrays: {exc}") from exc
    return meta, arrays


def read_meta(folder: str | Path) -> dict[str, Any]:
    folder = Path(folder)
    path = folder / SAVED_MODEL
    if not path.exists():
        if (folder / LEGACY_PICKLE).exists():
            raise SavedModelError(
                f"{folder}: saved by recgpt 0.1 as a pickle ({LEGACY_PICKLE}), which this version does not load "
                f"because unpickling can run code; convert it once with `recgpt convert-run RUN` (only for a "
                "run folder you trust), or retrain")
        raise MissingInputError(f"{folder}: no saved model here ({SAVED_MODEL}); train one first "
                                "(`recgpt train-retriever` or `recgpt run`)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SavedModelError(f"{path}: not valid JSON ({exc})") from exc
    if meta.get("format") != FORMAT or "registry" not in meta:
        raise SavedModelError(f"{path}: format {meta.get('format')!r}, expected {FORMAT} with a registry name")
    return meta


def load_model(folder: str | Path):
    """The retriever saved in ``folder`` (with its vector index, when one was saved beside it)."""
    from recgpt import registry

    folder = Path(folder)
    model = registry.retrievers.get(read_meta(folder)["registry"]).load(folder)
    if (folder / "index").is_dir():
        from recgpt.retrieval.index import IndexedRecommender, VectorIndex

        return IndexedRecommender.wrap(model, VectorIndex.load(folder / "index"))
    return model


# ---------------------------------------------------------------------- parts every retriever saves
def pack_catalog(catalog) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(JSON part, arrays) of a :class:`~recgpt.data.catalog.Catalog`."""
    meta = {"item_ids": [str(i) for i in catalog.item_ids], "titles": list(catalog.titles),
            "categories": list(catalog.categories)}
    arrays = {"catalog.category": catalog.category, "catalog.brand": catalog.brand, "catalog.price": catalog.price}
    return meta, arrays


def unpack_catalog(meta: dict[str, Any], arrays: dict[str, np.ndarray]):
    from recgpt.data.catalog import Catalog

    return Catalog(np.asarray(meta["item_ids"], dtype=object), meta["titles"], arrays["catalog.category"],
                   meta["categories"], arrays["catalog.brand"], arrays["catalog.price"])


def pack_sequences(sequences, prefix: str) -> tuple[list[str], dict[str, np.ndarray]]:
    """(user ids, arrays) of :class:`~recgpt.retrieval.interactions.Sequences`: the ragged rows as one
    concatenated array per field plus the row offsets."""
    offsets = np.cumsum([0] + [len(items) for items in sequences.items]).astype(np.int64)
    arrays = {f"{prefix}.offsets": offsets, f"{prefix}.items": _concat(sequences.items),
              f"{prefix}.behaviors": _concat(sequences.behaviors)}
    return [str(u) for u in sequences.users], arrays


def unpack_sequences(users: list[str], arrays: dict[str, np.ndarray], prefix: str):
    from recgpt.retrieval.interactions import Sequences

    offsets = arrays[f"{prefix}.offsets"]
    bounds = list(zip(offsets[:-1], offsets[1:]))
    return Sequences(np.asarray(users, dtype=object), [arrays[f"{prefix}.items"][a:b] for a, b in bounds],
                     [arrays[f"{prefix}.behaviors"][a:b] for a, b in bounds])


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)
