"""Serendipity ground truth from logs (SERAL): a held-out next item is *serendipitous* for its user when its
category, at the configured granularity, never appears in the user's visible history.

    history = UserHistory.of(dataset, "test")          # each user's visible behaviors, oldest first
    labels = label_targets(dataset, "test", "category")
    share(labels)                                        # the share of serendipitous next items
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from recgpt.config import ConfigError
from recgpt.seral.config import GRANULARITIES
from recgpt.seral.records import SerendipityLabel

LEAF_KEY = "leaf_category"


def item_categories(items, granularity: str = "category") -> dict[str, str]:
    """Item id -> its category at ``granularity``: ``category`` (the items table's column) or ``leaf`` (the
    item's ``attributes.leaf_category``, prefixed by its category so that leaves of two categories never
    merge; the category alone where an item has no leaf)."""
    if granularity not in GRANULARITIES:
        raise ConfigError(f"unknown granularity {granularity!r}; known: {', '.join(GRANULARITIES)}")
    ids = items.column("item_id").to_pylist()
    cats = items.column("category").to_pylist()
    if granularity == "category":
        return dict(zip(ids, cats))
    out = {}
    for item, cat, attrs in zip(ids, cats, items.column("attributes").to_pylist()):
        leaf = dict(attrs or []).get(LEAF_KEY)
        out[item] = f"{cat} > {leaf}" if leaf else cat
    return out


@dataclass
class UserHistory:
    """Each user's visible behaviors of a fold, oldest first: ``items[user]`` (item ids, repeats kept)."""

    items: dict[str, list[str]]

    @classmethod
    def of(cls, dataset, fold: str | None, behaviors: list[str] | None = None) -> "UserHistory":
        events = dataset.history(fold)
        if behaviors is not None:
            events = events.filter(pc.is_in(events.column("behavior"), value_set=pa.array(behaviors)))
        by_user: dict[str, list[str]] = defaultdict(list)
        for user, item in zip(events.column("user_id").to_pylist(), events.column("item_id").to_pylist()):
            by_user[user].append(item)
        return cls(dict(by_user))

    def categories(self, user: str, category: dict[str, str]) -> set[str]:
        return {category[i] for i in self.items.get(user, []) if i in category}


def label_targets(dataset, fold: str = "test", granularity: str = "category",
                  behaviors: list[str] | None = None) -> list[SerendipityLabel]:
    """One label per held-out item of ``fold`` whose user has a visible history (in holdout order)."""
    category = item_categories(dataset.items, granularity)
    history = UserHistory.of(dataset, fold, behaviors)
    labels = []
    for user, item in dataset.targets(fold).items():
        seen = history.items.get(user, [])
        if not seen:
            continue  # nothing to be unexpected against
        cats = history.categories(user, category)
        labels.append(SerendipityLabel(user, item, fold, category[item], category[item] not in cats, len(seen),
                                       len(cats)))
    return labels


def share(labels: list[SerendipityLabel]) -> dict[str, float | int]:
    """{"users", "serendipitous", "share"} of a list of labels."""
    hits = sum(label.serendipitous for label in labels)
    return {"users": len(labels), "serendipitous": hits, "share": hits / len(labels) if labels else 0.0}
