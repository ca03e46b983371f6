"""Offline evaluation of every method's top-K lists on the same users: accuracy, diversity, exposure.

Inputs are catalog positions (the order of the items table): ``ranked`` (n_users, K_max) int64 with -1
padding and ``targets`` (n_users,) int64, the held-out item of each user. The metric functions themselves
live in :mod:`recgpt.retrieval.metrics`; this module applies them per method and adds the per-decile hit
rate of the Matthew plot (report Figure 1 in offline form: the online CTR per popularity group becomes
"share of users whose held-out item lies in decile d and is found in the top K").
"""

from __future__ import annotations

import numpy as np

from recgpt.retrieval import metrics as M


def decile_rows(method: str, ranked: np.ndarray, targets: np.ndarray, popularity: np.ndarray, k: int) -> list[dict]:
    """Per popularity decile (0 = 10% most popular): exposure share of the top-k slots, the number of
    users whose target lies in the decile, and the hit rate among them."""
    exposure = M.exposure_by_decile(ranked, popularity, k)
    deciles = M.popularity_deciles(popularity)
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
