"""Classic baselines behind the :class:`~recgpt.retrieval.base.Recommender` contract.

- ``popular``: items ranked by training interaction count (the floor).
- ``ease``: EASE (Steck, 2019), closed-form linear item-item model, B = I - P / diag(P), P = (X^T X + lambda I)^-1.
- ``itemknn``: item-based k-nearest neighbours with cosine similarity and shrinkage (sparse, built in blocks).

All three score a user's *visible* history row x (binary, shape (n_items,)) and exclude it from the list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from recgpt.data.catalog import Catalog
from recgpt.retrieval.base import make_recommendations, top_k_excluding
from recgpt.retrieval.interactions import Sequences, exclusion_lists
from recgpt.retrieval.saved import (
    pack_catalog, pack_sequences, read_saved, unpack_catalog, unpack_sequences, write_saved,
)


class HistoryRecommender:
    """Shared plumbing: catalog, training sequences, visible history, batched top-k with exclusion, and
    saving (``params`` and the arrays of ``_state``) through :mod:`recgpt.retrieval.saved`."""

    batch_size = 1024

    def fit(self, dataset, fold: str | None = "dev"):
        self.catalog = Catalog.from_table(dataset.items)
        self.train = Sequences.from_events(dataset.events, self.catalog)
        self.popularity = self.catalog.counts(dataset.events)
        self._fit_model()
        self.use_history(dataset, fold)
        return self

    @property
    def params(self) -> dict[str, Any]:
        """Constructor arguments (hyperparameters)."""
        return {}

    def _state(self) -> dict[str, np.ndarray]:
        """The fitted model's arrays."""
        return {}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self._fit_model()

    def save(self, folder: str | Path) -> None:
        from recgpt import registry

        catalog_meta, arrays = pack_catalog(self.catalog)
        history_users, history_arrays = pack_sequences(self.history, "history")
        arrays.update(history_arrays)
        arrays["popularity"] = np.asarray(self.popularity, dtype=np.int64)
        arrays.update({f"state.{k}": v for k, v in self._state().items()})
        meta = {"params": self.params, "catalog": catalog_meta, "history_users": history_users}
        write_saved(folder, registry.retrievers.name_of(self), meta, arrays)

    @classmethod
    def load(cls, folder: str | Path):
        meta, arrays = read_saved(folder)
        obj = cls(**meta["params"])
        obj.catalog = unpack_catalog(meta["catalog"], arrays)
        obj.popularity = arrays["popularity"]
        obj.history = unpack_sequences(meta["history_users"], arrays, "history")
        obj._set_state({k[6:]: v for k, v in arrays.items() if k.startswith("state.")})
        return obj

    def use_history(self, dataset, fold: str | None) -> None:
        self.history = Sequences.from_events(dataset.history(fold), self.catalog)

    def _fit_model(self) -> None:
        raise NotImplementedError

    def _scores(self, user_ids) -> np.ndarray:
        """(len(user_ids), n_items) float32 scores; history exclusion happens afterwards."""
        raise NotImplementedError

    def _history_matrix(self, user_ids) -> sp.csr_matrix:
        rows, cols = [], []
        for r, u in enumerate(user_ids):
            items = np.unique(self.history.get(u)[0])
            rows.append(np.full(len(items), r))
            cols.append(items)
        rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        cols = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
        return sp.csr_matrix(
            (np.ones(len(cols), dtype=np.float32), (rows, cols)), shape=(len(user_ids), len(self.catalog))
        )

    def recommend(self, user_ids, k: int = 10, tags=None):
        user_ids = list(user_ids)
        idx_parts, val_parts = [], []
        for start in range(0, len(user_ids), self.batch_size):
            batch = user_ids[start : start + self.batch_size]
            scores = self._scores(batch)
            idx, val = top_k_excluding(scores, k, exclusion_lists(self.history, batch))
            idx_parts.append(idx)
            val_parts.append(val)
        if not user_ids:
            idx_parts, val_parts = [np.zeros((0, k), np.int64)], [np.zeros((0, k), np.float32)]
        return make_recommendations(
            user_ids, self.catalog.item_ids, np.concatenate(idx_parts), np.concatenate(val_parts)
        )


class PopularRecommender(HistoryRecommender):
    """Most popular items by training count; ties broken by catalog order."""

    def _fit_model(self) -> None:
        n = len(self.catalog)
        self._pop = (self.popularity + np.arange(n)[::-1] / (10.0 * n)).astype(np.float32)

    def _scores(self, user_ids) -> np.ndarray:
        return np.broadcast_to(self._pop, (len(user_ids), len(self._pop)))


class EASERecommender(HistoryRecommender):
    """EASE: B (m, m) with zero diagonal; scores = x B. ``l2`` is lambda (the L2 penalty).

    ``max_items`` (None: every item, m = n_items) restricts the model to the m most popular training items, so
    that a large catalog fits in memory (about 28 m^2 bytes while fitting, see :mod:`recgpt.retrieval.memory`);
    the other items score below every kept item (they fill a list only when fewer than k kept items are left).
    """

    def __init__(self, l2: float = 200.0, max_items: int | None = None):
        self.l2 = float(l2)
        self.max_items = None if max_items is None else int(max_items)

    @property
    def params(self) -> dict[str, Any]:
        return {"l2": self.l2, "max_items": self.max_items}

    def _state(self) -> dict[str, np.ndarray]:
        return {"b": self._b, "kept": self._kept}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self._b = arrays["b"]
        self._kept = arrays.get("kept", np.arange(len(self._b), dtype=np.int64))

    def _fit_model(self) -> None:
        n = len(self.catalog)
        if self.max_items is None or self.max_items >= n:
            self._kept = np.arange(n, dtype=np.int64)
        else:  # the most popular items, ties by catalog order
            self._kept = np.sort(np.argsort(-np.asarray(self.popularity), kind="stable")[: self.max_items])
        x = self.train.matrix(n)[:, self._kept]
        gram = (x.T @ x).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.l2
        p = np.linalg.inv(gram)
        del gram
        b = -p / np.diag(p)[None, :]
        del p
        b[np.diag_indices_from(b)] = 0.0
        self._b = b.astype(np.float32)

    def _scores(self, user_ids) -> np.ndarray:
        x = self._history_matrix(user_ids)
        if len(self._kept) == len(self.catalog):
            return np.asarray(x @ self._b)
        out = np.full((len(user_ids), len(self.catalog)), -1e30, dtype=np.float32)
        out[:, self._kept] = np.asarray(x[:, self._kept] @ self._b)
        return out


class ItemKNNRecommender(HistoryRecommender):
    """Item kNN: cosine similarity sim(i,j) = c_ij / (sqrt(n_i n_j) + shrink), top ``neighbors`` per item.

    The similarity is computed ``block`` target items at a time (a dense (n_items, block) slice of the
    co-occurrence) and only the top ``neighbors`` of each column are kept, as a sparse (n_items, n_items)
    matrix: memory about n_items x (block x 16 + neighbors x 12) bytes, so a catalog of 75,000 items fits
    in well under 1 GB (the dense matrix would need about 23 GB).
    """

    def __init__(self, neighbors: int = 100, shrink: float = 10.0, block: int = 2048):
        self.neighbors = int(neighbors)
        self.shrink = float(shrink)
        self.block = int(block)

    @property
    def params(self) -> dict[str, Any]:
        return {"neighbors": self.neighbors, "shrink": self.shrink, "block": self.block}

    def _state(self) -> dict[str, np.ndarray]:
        sim = self._sim.tocsc()
        return {"sim_data": sim.data, "sim_indices": sim.indices.astype(np.int64),
                "sim_indptr": sim.indptr.astype(np.int64), "sim_shape": np.asarray(sim.shape, dtype=np.int64)}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        if "sim" in arrays:  # saved before the sparse form
            self._sim = sp.csc_matrix(arrays["sim"])
            return
        self._sim = sp.csc_matrix((arrays["sim_data"], arrays["sim_indices"], arrays["sim_indptr"]),
                                  shape=tuple(int(v) for v in arrays["sim_shape"]))

    def _fit_model(self) -> None:
        x = self.train.matrix(len(self.catalog)).tocsc()
        n = x.shape[1]
        xt = x.T.tocsr()
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel().astype(np.float32))
        data, rows, cols = [], [], []
        for start in range(0, n, max(1, self.block)):
            stop = min(n, start + max(1, self.block))
            co = np.asarray((xt @ x[:, start:stop]).toarray(), dtype=np.float32)  # (n, stop - start)
            sim = co / (np.outer(norms, norms[start:stop]) + self.shrink + 1e-9)
            sim[np.arange(start, stop), np.arange(stop - start)] = 0.0
            if self.neighbors < n:
                top = np.argpartition(-sim, self.neighbors - 1, axis=0)[: self.neighbors, :]
            else:
                top = np.broadcast_to(np.arange(n)[:, None], sim.shape)
            values = np.take_along_axis(sim, top, axis=0)
            keep = values != 0
            data.append(values[keep])
            rows.append(top[keep])
            cols.append(np.broadcast_to(np.arange(start, stop)[None, :], top.shape)[keep])
        def cat(parts, dt):
            return np.concatenate(parts).astype(dt) if parts else np.zeros(0, dt)

        self._sim = sp.csc_matrix((cat(data, np.float32), (cat(rows, np.int64), cat(cols, np.int64))), shape=(n, n))
        # column j holds the neighbours of j that may score j

    def _scores(self, user_ids) -> np.ndarray:
        return np.asarray((self._history_matrix(user_ids) @ self._sim).toarray(), dtype=np.float32)
