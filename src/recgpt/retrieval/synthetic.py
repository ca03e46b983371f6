"""A planted data set with a known right answer, for tests and demos (synthetic, not real data).

``planted_dataset(n_clusters, items_per_cluster, users_per_cluster, history)``: items fall into clusters, each
cluster is one category whose titles share a word (e.g. "crimson widget 3"); every user buys ``history`` random
items of one cluster (the events), then one more as the dev holdout and one more as the test holdout. Any
retriever that learns co-occurrence must rank the user's remaining cluster items above every other item, so with
k = items_per_cluster - history - 1 the test item is in the top k. Item 0 of each cluster is bought most often.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from recgpt.data.dataset import Dataset

# Small, fast TAR settings under which the planted clusters are learnt (the shared retriever suites use them)
PLANTED_TAR_SETTINGS = dict(
    dim=16, emb_dim=8, hidden=32, max_len=10, epochs=40, batch_size=16, n_negatives=40, eval_every=0,
    threads=1, lr=1e-2, tag_encoder="scratch",
)

WORDS = ["crimson", "azure", "emerald", "amber", "violet", "silver", "golden", "ivory"]
NOUNS = ["widget", "notebook", "stapler", "lamp", "folder", "marker", "binder", "cable"]


def planted_dataset(
    n_clusters: int = 4, items_per_cluster: int = 10, users_per_cluster: int = 12, history: int = 6, seed: int = 0
) -> Dataset:
    rng = np.random.default_rng(seed)
    items = []
    for c in range(n_clusters):
        for j in range(items_per_cluster):
            items.append(
                dict(item_id=f"i{c}_{j}", title=f"{WORDS[c % 8]} {NOUNS[c % 8]} model {j}",
                     category=f"cat{c}", brand=f"brand{c}", price=float(5 + j))
            )
    users, events, holdout = [], [], []
    for c in range(n_clusters):
        weights = np.linspace(2.0, 1.0, items_per_cluster)
        weights /= weights.sum()
        for u in range(users_per_cluster):
            user = f"u{c}_{u}"
            users.append(dict(user_id=user))
            picks = rng.choice(items_per_cluster, history + 2, replace=False, p=weights)
            if 0 not in picks[: history]:  # item 0 is the cluster's most popular
                picks[0] = 0 if 0 not in picks else picks[0]
            for t, j in enumerate(picks):
                row = dict(user_id=user, item_id=f"i{c}_{j}", behavior="purchase", timestamp=1_000_000 + 86400 * t)
                if t < history:
                    events.append(row)
                else:
                    holdout.append(row | {"fold": "dev" if t == history else "test"})
    return Dataset(
        name="planted",
        items=pa.Table.from_pylist(items),
        users=pa.Table.from_pylist(users),
        events=pa.Table.from_pylist(events),
        holdout=pa.Table.from_pylist(holdout),
    ).validate()
