"""Offline evaluation of every method's top-K lists on the same users: accuracy, diversity, exposure.

Inputs are catalog positions (the order of the items table): ``ranked`` (n_users, K_max) int64 with -1
padding and ``targets`` (n_users,) int64, the held-out item of each user. The metric functions themselves
live in :mod:`recgpt.retrieval.metrics`; this module applies them per method and adds the per-decile hit
rate of the Matthew plot (report Figure 1 in offline form: the online CTR per popularity group becomes
"share of users whose held-out item lies in decile d and is found in the top K").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from recgpt.retrieval import metrics as M


@dataclass
class Catalog:
    """What the metrics need about the items, all arrays of shape (n_items,) in items-table order."""

    item_ids: np.ndarray
    category: np.ndarray  # category name per item
    popularity: np.ndarray  # training interaction count per item

    @property
    def position(self) -> dict[str, int]:
        if not hasattr(self, "_position"):
            self._position = {item: i for i, item in enumerate(self.item_ids)}
        return self._position

    def positions(self, item_ids) -> np.ndarray:
        lookup = self.position
        return np.array([lookup.get(i, -1) if i else -1 for i in item_ids], dtype=np.int64)


def catalog_from(items: pa.Table, train_events: pa.Table) -> Catalog:
    item_ids = np.asarray(items.column("item_id").to_pylist(), dtype=object)
    category = np.asarray(items.column("category").to_pylist(), dtype=object)
    position = {item: i for i, item in enumerate(item_ids)}
    counts = np.zeros(len(item_ids), dtype=np.float64)
    for item in train_events.column("item_id").to_pylist():
        j = position.get(item)
        if j is not None:
            counts[j] += 1
    return Catalog(item_ids, category, counts)


def method_metrics(ranked: np.ndarray, targets: np.ndarray, catalog: Catalog, ks: list[int]) -> dict[str, float]:
    """{"users", "recall@K", "ndcg@K", "categories@K", "long_tail@K", "gini@K", "coverage@K"} for each K."""
    out: dict[str, float] = {"users": int(len(targets))}
    _, category_codes = np.unique(catalog.category.astype(str), return_inverse=True)
    for k in ks:
        out[f"recall@{k}"] = M.recall_at_k(ranked, targets, k)
        out[f"ndcg@{k}"] = M.ndcg_at_k(ranked, targets, k)
        out[f"categories@{k}"] = M.categories_per_list(ranked, category_codes, k)
        out[f"long_tail@{k}"] = M.long_tail_share(ranked, catalog.popularity, k)
        out[f"gini@{k}"] = M.exposure_gini(ranked, len(catalog.item_ids), k)
        out[f"coverage@{k}"] = M.coverage(ranked, len(catalog.item_ids), k)
    return out


def decile_rows(method: str, ranked: np.ndarray, targets: np.ndarray, catalog: Catalog, k: int) -> list[dict]:
    """Per popularity decile (0 = 10% most popular): exposure share of the top-k slots, the number of
    users whose target lies in the decile, and the hit rate among them."""
    exposure = M.exposure_by_decile(ranked, catalog.popularity, k)
    deciles = M.popularity_deciles(catalog.popularity)
    hits = M.hit_ranks(ranked[:, :k], targets) >= 0
    target_decile = np.where(targets >= 0, deciles[np.maximum(targets, 0)], -1)
    rows = []
    for d in range(10):
        mask = target_decile == d
        rows.append(
            {
                "method": method,
                "k": k,
                "decile": d,
                "exposure": float(exposure[d]),
                "target_users": int(mask.sum()),
                "hit_rate": float(hits[mask].mean()) if mask.any() else float("nan"),
            }
        )
    return rows


def relative_change(new: float, old: float) -> float | None:
    """(new - old) / old, or None when old is 0."""
    return None if old == 0 else (new - old) / old
