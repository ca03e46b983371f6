"""Integer views of a dataset that every retriever shares: catalog positions, user positions, sequences.

``Interactions.from_tables(items, events)`` maps string ids onto positions:
item_ids[j] is the catalog item at position j (catalog order of ``items``), user_ids[u] the user at row u.
Sequences keep the events' order (the dataset sorts by user then time, stably, so same-day events keep file order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from recgpt.data.schema import BEHAVIORS


@dataclass
class Catalog:
    """The items table as integer features. All arrays have shape (n_items,)."""

    item_ids: np.ndarray  # str object array
    titles: list[str]
    category: np.ndarray  # int64, position in ``categories``
    categories: list[str]
    brand: np.ndarray  # int64, 0 = missing
    price: np.ndarray  # float64, nan = missing

    @classmethod
    def from_table(cls, items: pa.Table) -> "Catalog":
        item_ids = np.asarray(items.column("item_id").to_pylist(), dtype=object)
        if len(set(item_ids)) != len(item_ids):
            raise ValueError("items table: item_id values are not unique")
        cats = items.column("category").to_pylist()
        categories = sorted(set(cats))
        cat_pos = {c: i for i, c in enumerate(categories)}
        brands = items.column("brand").to_pylist() if "brand" in items.column_names else [None] * len(cats)
        brand_names = sorted({b for b in brands if b})
        brand_pos = {b: i + 1 for i, b in enumerate(brand_names)}
        prices = items.column("price").to_pylist() if "price" in items.column_names else [None] * len(cats)
        return cls(
            item_ids=item_ids,
            titles=[t or "" for t in items.column("title").to_pylist()],
            category=np.array([cat_pos[c] for c in cats], dtype=np.int64),
            categories=categories,
            brand=np.array([brand_pos.get(b, 0) if b else 0 for b in brands], dtype=np.int64),
            price=np.array([np.nan if p is None else float(p) for p in prices], dtype=np.float64),
        )

    def __len__(self) -> int:
        return len(self.item_ids)

    def positions(self, ids) -> np.ndarray:
        lookup = self.lookup
        return np.array([lookup[i] for i in ids], dtype=np.int64)

    @property
    def lookup(self) -> dict[str, int]:
        if not hasattr(self, "_lookup"):
            self._lookup = {i: j for j, i in enumerate(self.item_ids)}
        return self._lookup


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
                raise ValueError(f"events row {line}: item_id {i!r} is not in the items table")
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


def item_popularity(train: Sequences, n_items: int) -> np.ndarray:
    """Number of training interactions per item, shape (n_items,), int64."""
    if not train.items:
        return np.zeros(n_items, dtype=np.int64)
    return np.bincount(np.concatenate(train.items), minlength=n_items).astype(np.int64)


def exclusion_lists(history: Sequences, user_ids) -> list[np.ndarray]:
    """For each asked user, the unique catalog positions in the visible history."""
    return [np.unique(history.get(u)[0]) for u in user_ids]
