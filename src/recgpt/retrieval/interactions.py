"""Per-user behavior sequences over catalog positions, shared by every retriever.

``Sequences.from_events(events, catalog)`` maps string ids onto positions (:class:`~recgpt.data.catalog.Catalog`
order) and keeps the events' order (the dataset sorts by user then time, stably, so same-day events keep file
order). The catalog itself lives in :mod:`recgpt.data.catalog`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from recgpt.data.behaviors import BEHAVIORS
from recgpt.data.catalog import Catalog
from recgpt.data.dataset import DataValidationError


@dataclass
class Sequences:
    """Per-user chronological behavior, as ragged arrays indexed by user row.

    users: str object array (n_users,); items[u], behaviors[u]: int64 arrays of one user's events in order.
    """

    users: np.ndarray
    items: list[np.ndarray]
    behaviors: list[np.ndarray]

    @classmethod
    def from_events(cls, events: pa.Table, catalog: Catalog) -> "Sequences":
        users = events.column("user_id").to_pylist()
        items = events.column("item_id").to_pylist()
        behaviors = events.column("behavior").to_pylist()
        lookup = catalog.lookup
        beh_pos = {b: i for i, b in enumerate(BEHAVIORS)}
        by_user: dict[str, tuple[list[int], list[int]]] = {}
        for line, (u, i, b) in enumerate(zip(users, items, behaviors)):
            if i not in lookup:
                raise DataValidationError(f"events row {line}: item_id {i!r} is not in the items table")
            seq = by_user.setdefault(u, ([], []))
            seq[0].append(lookup[i])
            seq[1].append(beh_pos.get(b, 0))
        names = np.asarray(list(by_user), dtype=object)
        return cls(
            users=names,
            items=[np.asarray(by_user[u][0], dtype=np.int64) for u in names],
            behaviors=[np.asarray(by_user[u][1], dtype=np.int64) for u in names],
        )

    @property
    def row(self) -> dict[str, int]:
        if not hasattr(self, "_row"):
            self._row = {u: r for r, u in enumerate(self.users)}
        return self._row

    def get(self, user_id: str) -> tuple[np.ndarray, np.ndarray]:
        """(items, behaviors) of a user; empty arrays for an unknown user (cold start)."""
        r = self.row.get(user_id)
        if r is None:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        return self.items[r], self.behaviors[r]

    def matrix(self, n_items: int, binary: bool = True) -> sp.csr_matrix:
        """User-item matrix (n_users, n_items), rows in ``users`` order."""
        rows = np.concatenate([np.full(len(s), r) for r, s in enumerate(self.items)]) if self.items else []
        cols = np.concatenate(self.items) if self.items else []
        m = sp.csr_matrix(
            (np.ones(len(cols), dtype=np.float32), (rows, cols)), shape=(len(self.users), n_items)
        )
        if binary:
            m.data[:] = 1.0
        return m


def exclusion_lists(history: Sequences, user_ids) -> list[np.ndarray]:
    """For each asked user, the unique catalog positions in the visible history."""
    return [np.unique(history.get(u)[0]) for u in user_ids]
