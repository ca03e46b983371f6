"""The recommender contract every retriever follows (retrievers are registered in :data:`recgpt.registry.retrievers`).

A recommender is fitted on a :class:`recgpt.data.dataset.Dataset` for one evaluation fold and then answers
``recommend(user_ids, k, tags=None)`` with a :class:`Recommendations` batch. Items already in the user's
visible history (``dataset.history(fold)``) are never recommended.

Fitting always trains on ``dataset.events`` (the training rows only); the fold only selects the history that is
*visible* when recommending ("dev": events; "test": events + dev holdout; None: everything). ``use_history``
switches the visible history without retraining, which is how the evaluation protocol works: fit on train, tune
on dev, report on test with history = train + dev.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass
class Recommendations:
    """A batch of top-k lists.

    user_ids: shape (n_users,), str, the users asked for, in the order asked.
    item_ids: shape (n_users, k), str (object array), best first; "" pads a list shorter than k.
    scores:   shape (n_users, k), float32, the retriever's score for each slot (higher is better; -inf pads).
    item_index: shape (n_users, k), int64, catalog positions of the items (-1 pads), the order of
        ``Catalog.item_ids``; what the metrics consume.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    scores: np.ndarray
    item_index: np.ndarray

    def __len__(self) -> int:
        return len(self.user_ids)

    def for_user(self, user_id: str) -> list[tuple[str, float]]:
        row = int(np.flatnonzero(self.user_ids == user_id)[0])
        return [(i, float(s)) for i, s in zip(self.item_ids[row], self.scores[row]) if i != ""]


@runtime_checkable
class Recommender(Protocol):
    """What every retriever implements (popular, ease, itemknn, tar and the index wrapper); ``save`` writes a
    folder that :func:`recgpt.retrieval.saved.load_model` reads back (the class's ``load``)."""

    def fit(self, dataset, fold: str | None = "dev") -> "Recommender":
        """Train on ``dataset.events``; make ``dataset.history(fold)`` the visible history. Returns self."""

    def use_history(self, dataset, fold: str | None) -> None:
        """Make ``dataset.history(fold)`` the visible history (excluded from, and fed to, recommendations)."""

    def recommend(
        self, user_ids, k: int = 10, tags: dict[str, list[str]] | None = None
    ) -> Recommendations:
        """Top-``k`` items for each user id; ``tags`` maps user id to predicted tag texts (used by "tar")."""

    def save(self, folder: str | Path) -> None:
        """Write the fitted model (and its visible history) to ``folder``."""


def create(name: str, **options) -> Recommender:
    """A new, unfitted retriever by registry name ("popular", "ease", "itemknn", "tar", or a full name)."""
    from recgpt import registry

    return registry.retrievers.get(name)(**options)


def top_k_excluding(
    scores: np.ndarray, k: int, exclude: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k columns of ``scores`` (n_users, n_items) per row, skipping ``exclude[row]`` item positions.

    Returns (index (n_users, k) int64 with -1 padding, values (n_users, k) float32 with -inf padding).
    """
    scores = np.array(scores, dtype=np.float32, copy=True)
    for row, items in enumerate(exclude):
        if len(items):
            scores[row, items] = -np.inf
    n_items = scores.shape[1]
    kk = min(k, n_items)
    part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    index = np.take_along_axis(part, order, axis=1).astype(np.int64)
    values = np.take_along_axis(part_scores, order, axis=1)
    index[~np.isfinite(values)] = -1
    if kk < k:
        index = np.pad(index, ((0, 0), (0, k - kk)), constant_values=-1)
        values = np.pad(values, ((0, 0), (0, k - kk)), constant_values=-np.inf)
    return index, values.astype(np.float32)


def make_recommendations(user_ids, item_ids: np.ndarray, index: np.ndarray, values: np.ndarray):
    """Build :class:`Recommendations` from catalog positions; ``item_ids`` is the catalog id array."""
    ids = np.where(index >= 0, item_ids[np.maximum(index, 0)], "").astype(object)
    return Recommendations(np.asarray(user_ids, dtype=object), ids, values, index)
