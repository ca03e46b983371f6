"""A generated lifelong behavior log at the report's scale (synthetic; labelled so wherever it is used).

Per user about ``events_per_user`` events (default 37,000, the report's lifelong length) over ``years``
years, with the repeat structure of real shopping logs:

* sessions: events come in sessions on a few hundred days; within a session the user views the same
  few items several times (detail views and clicks on one item are rarely single);
* a personal core: ~60% of events go to a few hundred items the user keeps returning to (Zipf), the rest
  explore ~2,250 items of the user's 15 favourite categories;
* consumables: some core items are re-purchased every few weeks for years;
* behavior mix: click 55%, detail_view 25%, cart 8%, purchase 6%, favorite 5%, review 1%.

Items have Amazon-like titles of 10 to 16 words (brand, adjectives, noun, size, model number, pack).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from recgpt.data.dataset import Dataset

BEHAVIORS = np.array(["click", "detail_view", "cart", "purchase", "favorite", "review"])
BEHAVIOR_P = np.array([0.55, 0.25, 0.08, 0.06, 0.05, 0.01])
ADJ = ("Premium Heavy-Duty Compact Wireless Ergonomic Portable Adjustable Recycled Magnetic Waterproof "
       "Rechargeable Classic Deluxe Professional Lightweight Assorted Transparent Metallic Soft Large").split()
NOUN = ("Stapler Notebook Pen Marker Lamp Chair Desk Organizer Binder Folder Printer Scanner Headset Mouse "
        "Keyboard Monitor Cable Charger Bottle Mug Backpack Jacket Sneaker Towel Pillow Blanket Kettle Knife "
        "Pan Blender Shampoo Soap Toothbrush Vitamin Coffee Tea Snack Cereal Toy Puzzle").split()
COLOR = "Black White Blue Red Green Grey Navy Pink Silver Gold".split()
REF_TS = 1_718_409_600  # 2024-06-15 UTC


def make_items(n_items: int, n_categories: int, rng: np.random.Generator) -> pa.Table:
    category = rng.integers(0, n_categories, n_items)
    brand = rng.integers(0, 400, n_items)
    noun = category % len(NOUN)
    adjs = rng.integers(0, len(ADJ), (n_items, 3))
    titles = [
        f"Brand{b} {ADJ[a[0]]} {ADJ[a[1]]} {NOUN[n]} {ADJ[a[2]]} {COLOR[(i * 7) % 10]} {10 + i % 90} x {5 + i % 40} "
        f"Inches Model {b}{i:06d} Pack of {1 + i % 12}"
        for i, (b, n, a) in enumerate(zip(brand, noun, adjs))
    ]
    return pa.table({
        "item_id": pa.array([str(i) for i in range(n_items)]),
        "title": titles,
        "category": pa.array([f"{NOUN[c % len(NOUN)]}s group {c}" for c in category]),
        "brand": pa.array([f"Brand{b}" for b in brand]),
    })


def user_events(
    n: int, years: int, by_category: list[np.ndarray], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(item ids, behavior indices, timestamps) of one user's lifelong log."""
    cats = rng.choice(len(by_category), 15, replace=False)
    pool = np.concatenate([rng.choice(by_category[c], min(len(by_category[c]), 150), replace=False) for c in cats])
    core = rng.choice(pool, min(300, len(pool)), replace=False)
    n_sessions = max(1, n // 25)
    session_day = np.sort(rng.integers(0, years * 365, n_sessions))
    session_of = np.sort(rng.integers(0, n_sessions, n))
    # each session focuses on 1-4 items; 60% of events go to the core, the rest explore favourite categories
    focus = np.where(rng.random(n_sessions) < 0.6, core[rng.zipf(1.4, n_sessions) % len(core)],
                     pool[rng.integers(0, len(pool), n_sessions)])
    second = pool[rng.integers(0, len(pool), n_sessions)]
    items = np.where(rng.random(n) < 0.65, focus[session_of], second[session_of])
    explore = rng.random(n) < 0.15
    items[explore] = pool[rng.integers(0, len(pool), int(explore.sum()))]
    behaviors = rng.choice(len(BEHAVIORS), n, p=BEHAVIOR_P)
    timestamps = REF_TS - (years * 365 - session_day[session_of]) * 86_400 + rng.integers(0, 86_400, n)
    # consumables: three core items bought every 3-6 weeks for the whole period
    for item in core[:3]:
        k = int(years * 365 / rng.integers(21, 43))
        days = np.sort(rng.integers(0, years * 365, k))
        items = np.concatenate([items, np.full(k, item)])
        behaviors = np.concatenate([behaviors, np.full(k, 3)])
        timestamps = np.concatenate([timestamps, REF_TS - (years * 365 - days) * 86_400])
    return items, behaviors, timestamps


def lifelong_dataset(n_users: int, events_per_user: int = 37_000, years: int = 8, n_items: int = 200_000,
                     seed: int = 0) -> Dataset:
    """The synthetic lifelong data set (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n_categories = 500
    items = make_items(n_items, n_categories, rng)
    item_category = rng.integers(0, n_categories, n_items)
    by_category = [np.flatnonzero(item_category == c) for c in range(n_categories)]
    cols: dict[str, list] = {"user": [], "item": [], "behavior": [], "ts": []}
    for u in range(n_users):
        n = int(rng.normal(events_per_user, events_per_user * 0.1))
        it, be, ts = user_events(max(n, 1), years, by_category, rng)
        cols["user"].append(np.full(len(it), u))
        cols["item"].append(it)
        cols["behavior"].append(be)
        cols["ts"].append(ts)
    user = np.concatenate(cols["user"])
    events = pa.table({
        "user_id": pa.DictionaryArray.from_arrays(user, pa.array([f"user{u}" for u in range(n_users)])).cast(pa.string()),
        "item_id": pa.array(np.concatenate(cols["item"]).astype(str)),
        "behavior": pa.DictionaryArray.from_arrays(np.concatenate(cols["behavior"]), pa.array(BEHAVIORS)).cast(pa.string()),
        "timestamp": pa.array(np.concatenate(cols["ts"]).astype(np.int64)),
    })
    users = pa.table({"user_id": [f"user{u}" for u in range(n_users)]})
    return Dataset("lifelong-synthetic", items=items, users=users, events=events)
