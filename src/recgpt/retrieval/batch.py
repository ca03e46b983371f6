"""The batch retrieval job's pieces shared by every executor: users cut into fixed batches, and the per-user
rows of the batches put back together as one :class:`~recgpt.retrieval.base.Recommendations`.

Every executor asks the model batch by batch with the same batches, so the local and the distributed jobs
compute the same numbers (a retriever's user tower pads each batch to its longest history).
"""

from __future__ import annotations

import numpy as np

from recgpt.retrieval.base import Recommendations


def user_batches(user_ids: list[str], size: int) -> list[list[str]]:
    """``user_ids`` in consecutive batches of ``size`` (the last one shorter)."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")
    return [list(user_ids[start:start + size]) for start in range(0, len(user_ids), size)]


def recommend_in_batches(model, user_ids: list[str], k: int, batch_size: int,
                         tags: dict[str, list[str]] | None = None, **options) -> Recommendations:
    """``model.recommend`` over ``user_batches(user_ids, batch_size)``, concatenated in order."""
    parts = [model.recommend(batch, k, tags=tags, **options) for batch in user_batches(user_ids, batch_size)]
    if not parts:
        return model.recommend([], k, tags=tags, **options)
    return Recommendations(np.concatenate([p.user_ids for p in parts]), np.concatenate([p.item_ids for p in parts]),
                           np.concatenate([p.scores for p in parts]), np.concatenate([p.item_index for p in parts]))


def concat_recommendations(user_ids: list[str], rows: list[dict]) -> Recommendations:
    """Rows of ``user_id``, ``item_ids``, ``scores``, ``item_index`` (one per user, in ``user_ids`` order)."""
    got = [row["user_id"] for row in rows]
    if got != list(user_ids):
        raise ValueError(f"the batch retrieval job returned {len(got)} users for {len(user_ids)} asked, or "
                         "in another order")
    return Recommendations(
        np.asarray(got, dtype=object),
        np.asarray([list(row["item_ids"]) for row in rows], dtype=object).reshape(len(rows), -1),
        np.asarray([row["scores"] for row in rows], dtype=np.float32).reshape(len(rows), -1),
        np.asarray([row["item_index"] for row in rows], dtype=np.int64).reshape(len(rows), -1))
