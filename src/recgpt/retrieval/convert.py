"""Convert a retriever saved by recgpt 0.1 (``config.yaml`` + a pickled ``model.pt``) to the safe format of
:mod:`recgpt.retrieval.saved` (``model.json`` + ``model.safetensors``).

The old file is read with ``torch.load(weights_only=True)`` and only NumPy's array classes allowed besides
tensors, so even the conversion runs no pickled code; a file that needs anything else is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recgpt.retrieval.saved import LEGACY_PICKLE, SAVED_MODEL, SavedModelError


def _numpy_globals() -> list:
    """The classes a pickled NumPy array refers to (ndarray, dtype and its per-type classes, reconstruct)."""
    from numpy._core.multiarray import _reconstruct, scalar

    dtypes = [type(np.dtype(t)) for t in (np.int64, np.int32, np.float64, np.float32, np.bool_, object, np.str_)]
    return [_reconstruct, scalar, np.ndarray, np.dtype, *dtypes]


def read_legacy(folder: str | Path) -> dict:
    """The dictionary a recgpt 0.1 ``TARRecommender.save`` wrote to ``folder/model.pt``."""
    import torch

    path = Path(folder) / LEGACY_PICKLE
    if not path.exists():
        raise SavedModelError(f"{path}: no recgpt 0.1 model here")
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            return torch.load(path, weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError or RuntimeError naming the refused global
        refused = [line for line in str(exc).splitlines() if "GLOBAL" in line]
        reason = refused[0] if refused else str(exc).splitlines()[0]
        raise SavedModelError(f"{path}: not a recgpt 0.1 retriever this converter can read safely ({reason})") from exc


def convert_legacy_model(folder: str | Path) -> Path:
    """Rewrite the recgpt 0.1 TAR in ``folder`` in the current format; the old files are removed. Returns the
    new ``model.json``."""
    from recgpt.data.catalog import Catalog
    from recgpt.retrieval.config import TARConfig
    from recgpt.retrieval.interactions import Sequences
    from recgpt.retrieval.tar import TARRecommender

    folder = Path(folder)
    blob = read_legacy(folder)
    config = TARConfig.from_yaml(folder / "config.yaml")
    fields = ("item_ids", "titles", "category", "categories", "brand", "price")
    catalog = Catalog(**{name: blob["catalog"][name] for name in fields})
    model = TARRecommender(config)
    model._build(catalog, np.asarray(blob["train_users"], dtype=object), np.asarray(blob["popularity"]),
                 pretrained=False)
    model.net.load_state_dict(blob["state"])  # the towers map parameter names of older layouts
    model.net.eval()
    history = blob["history"]
    model.history = Sequences(np.asarray(history["users"], dtype=object), list(history["items"]),
                              list(history["behaviors"]))
    model.training_log, model.is_fitted, model._item_vectors = list(blob["training_log"]), True, None
    model.save(folder)
    (folder / LEGACY_PICKLE).unlink()
    (folder / "config.yaml").unlink(missing_ok=True)
    return folder / SAVED_MODEL
