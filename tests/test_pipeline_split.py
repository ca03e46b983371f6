"""Leave-one-out split for data sets without one: the targets are new items, later events leave the history."""

from __future__ import annotations

import pyarrow as pa

from recgpt.data.dataset import Dataset
from recgpt.data.split import leave_one_out


def test_leave_one_out_picks_last_new_items():
    items = pa.table({"item_id": list("abcde"), "title": list("ABCDE"), "category": ["x"] * 5})
    users = pa.table({"user_id": ["u", "v"]})
    rows = [("u", "a", 1), ("u", "b", 2), ("u", "c", 3), ("u", "d", 4), ("u", "b", 5),  # b at 5 repeats
            ("v", "a", 1), ("v", "b", 2)]  # too short: no target
    events = pa.table({"user_id": [r[0] for r in rows], "item_id": [r[1] for r in rows],
                       "behavior": ["purchase"] * len(rows), "timestamp": [r[2] for r in rows]})
    split = leave_one_out(Dataset("t", items, users, events), min_events=3).validate()
    targets = {(r["fold"], r["user_id"]): (r["item_id"], r["timestamp"]) for r in split.holdout.to_pylist()}
    assert targets == {("test", "u"): ("d", 4), ("dev", "u"): ("c", 3)}
    left = [(r["user_id"], r["item_id"]) for r in split.events.to_pylist()]
    assert left == [("u", "a"), ("u", "b"), ("v", "a"), ("v", "b")]
    assert [r["item_id"] for r in split.history("test").to_pylist() if r["user_id"] == "u"] == ["a", "b", "c"]
