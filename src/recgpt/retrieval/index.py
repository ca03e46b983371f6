"""Vector indexes over item vectors (FAISS, inner product) and the wrapper that puts one behind a model.

Registered in :data:`recgpt.registry.indexes`:

- ``exact.v1``: IndexFlatIP, brute force, the default and the reference.
- ``hnsw.v1``: IndexHNSWFlat, graph search for large catalogs; ``m``, ``ef_construction``, ``ef_search``.
- ``ivf.v1``: IndexIVFFlat, k-means lists; ``nlist``, ``nprobe``.
Both search inner products through the L2 transform of :class:`VectorIndex`.

Every index answers ``search(queries (n, d) float32, depth) -> (scores (n, depth), positions (n, depth))``;
``-1`` positions mark missing results. :class:`IndexedRecommender` wraps any embedding model (one exposing
``item_vectors()`` and ``recommend(..., searcher=)``) and keeps its ``recommend``.
"""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np


class VectorIndex:
    """Base of the indexes. Approximate ones (``l2_transform``) search inner products as L2 distances over
    vectors augmented with one coordinate, x' = [x, sqrt(M^2 - |x|^2)] and q' = [q, 0] (M = the largest item
    norm): |q' - x'|^2 = |q|^2 + M^2 - 2 q.x, so the L2 order is the inner-product order even when item vectors
    are not normalised, where graph and k-means search on raw inner products lose recall."""

    kind = "base"
    l2_transform = False

    def __init__(self, **options):
        self.options = options
        self.index = None
        self.max_norm = 0.0

    def build(self, vectors: np.ndarray) -> "VectorIndex":
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.l2_transform:
            norms = np.einsum("ij,ij->i", vectors, vectors)
            self.max_norm = float(np.sqrt(norms.max())) if len(norms) else 0.0
            extra = np.sqrt(np.maximum(self.max_norm**2 - norms, 0.0))[:, None]
            vectors = np.ascontiguousarray(np.hstack([vectors, extra]), dtype=np.float32)
        self.index = self._make(vectors.shape[1], len(vectors))
        if not self.index.is_trained:  # k-means on a sample: ~50 points per list is plenty
            sample = np.random.default_rng(0).permutation(len(vectors))[: max(50 * self._lists(), 10_000)]
            self.index.train(vectors[np.sort(sample)])
        self.index.add(vectors)
        self._configure()
        return self

    def _make(self, dim: int, n: int):
        raise NotImplementedError

    def _configure(self) -> None:
        pass

    def _lists(self) -> int:
        return 0

    def search(self, queries: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
        depth = min(depth, self.index.ntotal)
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if not self.l2_transform:
            return self.index.search(queries, depth)
        padded = np.ascontiguousarray(np.hstack([queries, np.zeros((len(queries), 1), np.float32)]))
        distances, positions = self.index.search(padded, depth)
        q_norms = np.einsum("ij,ij->i", queries, queries)[:, None]
        scores = (q_norms + self.max_norm**2 - distances) / 2.0  # back to inner products
        return np.where(positions >= 0, scores, -np.inf).astype(np.float32), positions

    __call__ = search

    def save(self, folder: str | Path) -> None:
        from recgpt import registry

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(folder / "index.faiss"))
        meta = {"registry": registry.indexes.name_of(self), "options": self.options, "max_norm": self.max_norm}
        (folder / "index.json").write_text(json.dumps(meta))

    @staticmethod
    def load(folder: str | Path) -> "VectorIndex":
        folder = Path(folder)
        meta = json.loads((folder / "index.json").read_text())
        index = make_index(meta.get("registry") or meta["kind"], **meta["options"])
        index.index = faiss.read_index(str(folder / "index.faiss"))
        index.max_norm = float(meta.get("max_norm", 0.0))
        if index.l2_transform and index.index.metric_type != faiss.METRIC_L2:  # saved before the transform
            index.l2_transform = False
        index._configure()
        return index


class ExactIndex(VectorIndex):
    """Brute-force inner product over every item (FAISS IndexFlatIP): exact, the reference; no options."""

    kind = "exact"

    def __init__(self):
        super().__init__()

    def _make(self, dim, n):
        return faiss.IndexFlatIP(dim)


class HNSWIndex(VectorIndex):
    """Graph search (FAISS IndexHNSWFlat) for large catalogs; options m, ef_construction, ef_search."""

    kind = "hnsw"
    l2_transform = True

    def __init__(self, m: int = 32, ef_construction: int = 200, ef_search: int = 128):
        super().__init__(m=m, ef_construction=ef_construction, ef_search=ef_search)

    def _make(self, dim, n):
        index = faiss.IndexHNSWFlat(dim, self.options["m"], faiss.METRIC_L2)
        index.hnsw.efConstruction = self.options["ef_construction"]
        return index

    def _configure(self):
        self.index.hnsw.efSearch = self.options["ef_search"]

    def search(self, queries, depth):
        self.index.hnsw.efSearch = max(self.options["ef_search"], depth)
        return super().search(queries, depth)


class IVFIndex(VectorIndex):
    """Inverted lists over k-means cells (FAISS IndexIVFFlat); options nlist, nprobe."""

    kind = "ivf"
    l2_transform = True

    def __init__(self, nlist: int | None = None, nprobe: int = 16):
        super().__init__(nlist=nlist, nprobe=nprobe)

    def _make(self, dim, n):
        nlist = self.options["nlist"] or max(1, int(4 * np.sqrt(n)))
        nlist = min(nlist, max(1, n // 39))  # k-means needs ~39 points per centroid
        self.options["nlist"] = nlist
        self._quantizer = faiss.IndexFlatL2(dim)
        return faiss.IndexIVFFlat(self._quantizer, dim, nlist, faiss.METRIC_L2)

    def _configure(self):
        faiss.extract_index_ivf(self.index).nprobe = self.options["nprobe"]

    def _lists(self) -> int:
        return self.options["nlist"]


def make_index(kind: str = "exact", **options) -> VectorIndex:
    """A new index by registry name ("exact", "hnsw", "ivf" or a full name); a wrong option is an error."""
    from recgpt import registry
    from recgpt.config import ConfigError

    cls = registry.indexes.get(kind)
    try:
        return cls(**options)
    except TypeError as exc:
        raise ConfigError(f"index {kind!r}: {exc}") from None


class IndexedRecommender:
    """A model plus a vector index over its item vectors, with the model's ``recommend`` interface.

    ``IndexedRecommender(model, "hnsw", m=32)``; ``fit`` fits the model then builds the index; ``save``/``load``
    store both (the model's files in ``folder`` itself, so ``TARRecommender.load(folder)`` still works, and the
    index in ``folder/index``).
    """

    def __init__(self, model, kind: str = "exact", **options):
        self.model = model
        self.index = make_index(kind, **options)
        if getattr(model, "is_fitted", False):
            self.index.build(model.item_vectors())

    def fit(self, dataset, fold: str | None = "dev", **kwargs) -> "IndexedRecommender":
        self.model.fit(dataset, fold, **kwargs)
        self.index.build(self.model.item_vectors())
        return self

    @property
    def catalog(self):
        return self.model.catalog

    def use_history(self, dataset, fold: str | None) -> None:
        self.model.use_history(dataset, fold)

    def recommend(self, user_ids, k: int = 10, tags=None, **kwargs):
        return self.model.recommend(user_ids, k, tags, searcher=self.index, **kwargs)

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        self.model.save(folder)
        self.index.save(folder / "index")

    @classmethod
    def wrap(cls, model, index: VectorIndex) -> "IndexedRecommender":
        """A fitted ``model`` behind an already built ``index``."""
        obj = cls.__new__(cls)
        obj.model, obj.index = model, index
        return obj

    @classmethod
    def load(cls, folder: str | Path) -> "IndexedRecommender":
        """The model and index saved in ``folder`` (the model class is the one its ``model.json`` names)."""
        from recgpt.retrieval.saved import SavedModelError, load_model

        loaded = load_model(folder)
        if not isinstance(loaded, cls):
            raise SavedModelError(f"{folder}: no vector index was saved beside this model (index/)")
        return loaded
