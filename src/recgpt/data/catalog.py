"""The item catalog as integer features, shared by every area: positions, categories, brands, prices, counts.

Position j is the j-th row of the items table; every array below has shape (n_items,) in that order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recgpt.data.dataset import DataValidationError


@dataclass
class Catalog:
    """The items table as arrays. ``category`` and ``brand`` are codes: positions in ``categories`` (sorted
    names) and 1 + positions in the sorted brand names (0 = no brand); ``price`` is NaN where unknown."""

    item_ids: np.ndarray  # str object array
    titles: list[str]
    category: np.ndarray  # int64
    categories: list[str]
    brand: np.ndarray  # int64
    price: np.ndarray  # float64

    @classmethod
    def from_table(cls, items: pa.Table) -> "Catalog":
        item_ids = np.asarray(items.column("item_id").to_pylist(), dtype=object)
        if len(set(item_ids)) != len(item_ids):
            raise DataValidationError("items: item_id values are not unique")
        cats = items.column("category").to_pylist()
        categories = sorted(set(cats))
        cat_pos = {c: i for i, c in enumerate(categories)}
        brands = items.column("brand").to_pylist() if "brand" in items.column_names else [None] * len(cats)
        brand_pos = {b: i + 1 for i, b in enumerate(sorted({b for b in brands if b}))}
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

    @property
    def lookup(self) -> dict[str, int]:
        """Item id -> position."""
        if not hasattr(self, "_lookup"):
            self._lookup = {i: j for j, i in enumerate(self.item_ids)}
        return self._lookup

    def positions(self, ids, missing: int | None = None) -> np.ndarray:
        """Positions of ``ids`` (int64); an id outside the catalog (or None) is ``missing``, or an error
        naming it when ``missing`` is None."""
        lookup = self.lookup
        if missing is None:
            unknown = [i for i in ids if i not in lookup]
            if unknown:
                raise DataValidationError(f"item {unknown[0]!r} is not in the catalog ({len(unknown)} unknown)")
            return np.array([lookup[i] for i in ids], dtype=np.int64)
        return np.array([lookup.get(i, missing) if i is not None else missing for i in ids], dtype=np.int64)

    @property
    def category_names(self) -> np.ndarray:
        """The category name of every item (str object array)."""
        return np.asarray(self.categories, dtype=object)[self.category]

    def counts(self, events: pa.Table) -> np.ndarray:
        """How often each item occurs in ``events`` (any table with an ``item_id`` column), int64; rows whose
        item is not in the catalog are not counted."""
        counts = pc.value_counts(events.column("item_id")) if events.num_rows else None
        out = np.zeros(len(self), dtype=np.int64)
        if counts is not None:
            values = counts.field("values").to_pylist()
            hits = self.positions(values, missing=-1)
            found = hits >= 0
            out[hits[found]] = np.asarray(counts.field("counts").to_pylist(), dtype=np.int64)[found]
        return out

    def count_by_id(self, events: pa.Table) -> dict[str, int]:
        """:meth:`counts` as item id -> count, for the items that occur."""
        counts = self.counts(events)
        return {str(self.item_ids[j]): int(counts[j]) for j in np.flatnonzero(counts)}
