"""Ranking, diversity and popularity-exposure metrics shared by every retriever.

Inputs are catalog positions: ``ranked`` (n_users, K_max) int64 top lists (-1 pads), ``targets`` (n_users,)
int64 held-out item per user (leave-one-out: one relevant item, so Recall@K equals hit rate@K).
Popularity groups use training interaction counts: ``popularity`` (n_items,).
"""

from __future__ import annotations

import numpy as np


def hit_ranks(ranked: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of each user's target in its list, or -1 when absent. Shape (n_users,)."""
    hits = ranked == targets[:, None]
    found = hits.any(axis=1)
    return np.where(found, hits.argmax(axis=1), -1)


def recall_at_k(ranked: np.ndarray, targets: np.ndarray, k: int) -> float:
    """Share of users whose target is in their top k (one target per user)."""
    ranks = hit_ranks(ranked[:, :k], targets)
    return float(np.mean(ranks >= 0)) if len(ranks) else 0.0


def ndcg_at_k(ranked: np.ndarray, targets: np.ndarray, k: int) -> float:
    """Mean of 1 / log2(rank + 2) for a target at 0-based rank < k, else 0 (ideal DCG is 1)."""
    ranks = hit_ranks(ranked[:, :k], targets)
    gains = np.where(ranks >= 0, 1.0 / np.log2(np.maximum(ranks, 0) + 2.0), 0.0)
    return float(gains.mean()) if len(gains) else 0.0


def categories_per_list(ranked: np.ndarray, item_category: np.ndarray, k: int) -> float:
    """Mean number of distinct categories in each top-k list."""
    counts = [len(set(item_category[row[row >= 0]].tolist())) for row in ranked[:, :k]]
    return float(np.mean(counts)) if counts else 0.0


def popularity_deciles(popularity: np.ndarray) -> np.ndarray:
    """Decile of each item, 0 = the 10% most popular ... 9 = the least popular (ties by catalog order)."""
    order = np.argsort(-popularity, kind="stable")
    decile = np.empty(len(popularity), dtype=np.int64)
    decile[order] = np.arange(len(popularity)) * 10 // max(len(popularity), 1)
    return decile


def head_items(popularity: np.ndarray, share: float = 0.2) -> np.ndarray:
    """Boolean mask (n_items,) of the ``share`` most popular items (by count, ties by catalog order)."""
    order = np.argsort(-popularity, kind="stable")
    mask = np.zeros(len(popularity), dtype=bool)
    mask[order[: int(round(share * len(popularity)))]] = True
    return mask


def long_tail_share(ranked: np.ndarray, popularity: np.ndarray, k: int, head: float = 0.2) -> float:
    """Share of filled top-k slots that go to items outside the ``head`` most popular share."""
    slots = ranked[:, :k]
    slots = slots[slots >= 0]
    if slots.size == 0:
        return 0.0
    return float(np.mean(~head_items(popularity, head)[slots]))


def exposure_by_decile(ranked: np.ndarray, popularity: np.ndarray, k: int) -> np.ndarray:
    """Share of all filled top-k slots per popularity decile (0 = most popular), shape (10,), sums to 1."""
    slots = ranked[:, :k]
    slots = slots[slots >= 0]
    counts = np.bincount(popularity_deciles(popularity)[slots], minlength=10).astype(np.float64)
    return counts / max(counts.sum(), 1.0)


def exposure_gini(ranked: np.ndarray, n_items: int, k: int) -> float:
    """Gini coefficient of per-item exposure counts over the whole catalog (0 = equal, -> 1 = concentrated)."""
    slots = ranked[:, :k]
    counts = np.sort(np.bincount(slots[slots >= 0], minlength=n_items).astype(np.float64))
    total = counts.sum()
    if total == 0:
        return 0.0
    n = len(counts)
    cum = np.arange(1, n + 1)
    return float((2.0 * np.sum(cum * counts) / (n * total)) - (n + 1.0) / n)


def coverage(ranked: np.ndarray, n_items: int, k: int) -> float:
    """Share of the catalog that appears in at least one top-k list."""
    slots = ranked[:, :k]
    return float(len(np.unique(slots[slots >= 0])) / max(n_items, 1))
