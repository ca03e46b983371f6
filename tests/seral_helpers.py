"""A tiny log with known serendipity answers, shared by the tests/test_seral_*.py modules.

Categories A (items a1 leaf x, a2 leaf y), B (b1, b2), C (c1, c2), D (d1). Visible history at the test fold
(events plus the dev targets) and the test targets:

    u1  a1 a2        -> b1   serendipitous (B never touched)
    u2  a1 b1        -> a2   familiar category A (a new leaf: serendipitous at the leaf granularity)
    u3  b2 c1        -> c2   familiar
    u4  a1 (dev c2)  -> c1   familiar at test (C seen through the dev target); at dev, c2 is serendipitous
    u5  a1           -> a2   familiar category, new leaf
    u6  a2 b2           no target

Category answer at test: 1 of 5 serendipitous (u1); leaf answer: 3 of 5 (u1, u2, u5).
"""

from __future__ import annotations

import pyarrow as pa

from recgpt.data.dataset import Dataset
from recgpt.data.schema import SCHEMAS

ITEMS = {"a1": ("A", "x"), "a2": ("A", "y"), "b1": ("B", None), "b2": ("B", None), "c1": ("C", None),
         "c2": ("C", None), "d1": ("D", None)}
EVENTS = {"u1": ["a1", "a2"], "u2": ["a1", "b1"], "u3": ["b2", "c1"], "u4": ["a1"], "u5": ["a1"], "u6": ["a2", "b2"]}
DEV = {"u1": None, "u4": "c2"}
TEST = {"u1": "b1", "u2": "a2", "u3": "c2", "u4": "c1", "u5": "a2"}
# popularity in the test-fold history: a1 4, a2 2, b1 1, b2 2, c1 1, c2 1, d1 0


def tiny_dataset() -> Dataset:
    items = pa.Table.from_pylist([
        {"item_id": i, "title": f"item {i}", "category": c, "attributes": [("leaf_category", leaf)] if leaf else []}
        for i, (c, leaf) in ITEMS.items()], schema=SCHEMAS["items"])
    users = pa.Table.from_pylist([{"user_id": u} for u in EVENTS])
    events = pa.Table.from_pylist([{"user_id": u, "item_id": i, "behavior": "purchase", "timestamp": 100 + t}
                                   for u, items_ in EVENTS.items() for t, i in enumerate(items_)])
    holdout = [{"user_id": u, "item_id": i, "behavior": "purchase", "timestamp": 200, "fold": "dev"}
               for u, i in DEV.items() if i]
    holdout += [{"user_id": u, "item_id": i, "behavior": "purchase", "timestamp": 300, "fold": "test"}
                for u, i in TEST.items()]
    return Dataset("tiny", items, users, events, holdout=pa.Table.from_pylist(holdout)).validate()
