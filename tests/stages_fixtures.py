"""Tiny data set and helpers shared by the stages tests (imported by tests/test_stages_*.py)."""

from __future__ import annotations

import json

import pyarrow as pa

from recgpt.data.dataset import Dataset
from recgpt.llm.runtime import LLMConfig, LLMRuntime
from recgpt.llm.fake import FakeBackend

DAY = 86400
T0 = 1_700_000_000  # 2023-11-14

ITEMS = [
    ("p1", "Pilot G2 Retractable Gel Ink Pens Blue 12 Pack", "Pens", "Pilot"),
    ("p2", "Sharpie Fine Point Permanent Markers Black", "Pens", "Sharpie"),
    ("p3", "Uni-ball Vision Rollerball Pens Assorted Colors", "Pens", "Uni-ball"),
    ("c1", "Texas Instruments TI-84 Plus Graphing Calculator", "Calculators", "Texas Instruments"),
    ("c2", "Casio Scientific Calculator with Solar Power", "Calculators", "Casio"),
    ("n1", "Moleskine Classic Hard Cover Notebook Ruled", "Notebooks", "Moleskine"),
    ("n2", "Five Star Spiral Notebook College Ruled 100 Sheets", "Notebooks", "Five Star"),
]

# user -> [(item, days after T0)]; holdout: dev then test
EVENTS = {
    "u1": [("p1", 0), ("p2", 40), ("n1", 50)],
    "u2": [("c1", 0), ("c2", 5)],
    "u3": [("n1", 0), ("n2", 3), ("p1", 4)],
}
HOLDOUT = {"u1": ("p3", 60, "n2", 70), "u2": ("p1", 10, "c2", 11), "u3": ("c1", 8, "n2", 9)}


def tiny_dataset() -> Dataset:
    items = pa.table({
        "item_id": [i[0] for i in ITEMS], "title": [i[1] for i in ITEMS],
        "category": [i[2] for i in ITEMS], "brand": [i[3] for i in ITEMS],
    })
    users = pa.table({"user_id": sorted(EVENTS)})
    rows = [(u, i, "purchase", T0 + d * DAY) for u, evs in EVENTS.items() for i, d in evs]
    events = pa.table({k: [r[j] for r in rows] for j, k in enumerate(["user_id", "item_id", "behavior", "timestamp"])})
    hold = []
    for u, (dev_item, dev_day, test_item, test_day) in HOLDOUT.items():
        hold.append((u, dev_item, "purchase", T0 + dev_day * DAY, "dev"))
        hold.append((u, test_item, "purchase", T0 + test_day * DAY, "test"))
    holdout = pa.table({k: [r[j] for r in hold] for j, k in
                        enumerate(["user_id", "item_id", "behavior", "timestamp", "fold"])})
    searches = pa.table({"user_id": ["u1"], "query": ["fountain pen ink"], "timestamp": [T0 + 55 * DAY]})
    return Dataset("tiny", items, users, events, searches, holdout).validate()


def fake_runtime(script, tmp_path=None) -> tuple[LLMRuntime, FakeBackend]:
    backend = FakeBackend(script)
    config = LLMConfig(backend="fake", progress=False, options={"fake": {"answers": ["{}"]}})
    cache = tmp_path / "cache.sqlite" if tmp_path is not None else None
    return LLMRuntime(config, cache_path=cache, backend=backend), backend


def interests_json(*items) -> str:
    return json.dumps({"interests": [{"interest": i, "stage": s, "reason": r} for i, s, r in items]})


def tags_json(*items) -> str:
    return json.dumps({"tags": [{"tag": t, "reason": r} for t, r in items]})
