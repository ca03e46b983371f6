"""Property: compression is lossless w.r.t. the multiset of (item, behavior, period) facts.

Random logs (items, users, behaviors including clicks, searches, timestamps over several years) are
compressed without a budget, every user's text is parsed back, and the facts must equal those computed
directly from the log: a multiset with ``count_repeats`` (repeats render as ``behavior xN``), a set
without it.
"""

from collections import Counter
from datetime import date

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recgpt.behavior.compression import CompressionConfig, compress_users
from recgpt.behavior.item_text import clean_text, item_texts
from recgpt.behavior.parser import facts_to_items, parse_compressed
from recgpt.behavior.periods import period_label
from recgpt.behavior.tokens import ApproxTokenCounter
from recgpt.data.dataset import Dataset
from recgpt.data.schema import BEHAVIORS

REFERENCE = date(2024, 6, 15)
REF_TS = 1718409600  # 2024-06-15 00:00 UTC
WORDS = st.sampled_from(["red", "desk", "lamp", "pen", "gel", "x,y", "a|b", "Pen", "", "NEW", "(big)", "tape"])
TITLE = st.lists(WORDS, min_size=1, max_size=4).map(" ".join)
TS = st.integers(REF_TS - 5 * 365 * 86400, REF_TS + 86399)


@st.composite
def logs(draw):
    n_items = draw(st.integers(1, 8))
    titles = draw(st.lists(TITLE, min_size=n_items, max_size=n_items))
    items = pa.table({"item_id": [f"i{k}" for k in range(n_items)], "title": titles,
                      "category": draw(st.lists(st.sampled_from(["Pens", "Lamps", ""]), min_size=n_items, max_size=n_items))})
    users = [f"u{k}" for k in range(draw(st.integers(1, 4)))]
    events = draw(st.lists(st.tuples(st.sampled_from(users), st.integers(0, n_items - 1),
                                     st.sampled_from(BEHAVIORS), TS), max_size=60))
    searches = draw(st.lists(st.tuples(st.sampled_from(users), TITLE, TS), max_size=10))
    return Dataset(
        "random", items=items, users=pa.table({"user_id": users}),
        events=pa.table({"user_id": pa.array([e[0] for e in events], pa.string()),
                         "item_id": pa.array([f"i{e[1]}" for e in events], pa.string()),
                         "behavior": pa.array([e[2] for e in events], pa.string()),
                         "timestamp": pa.array([e[3] for e in events], pa.int64())}),
        searches=pa.table({"user_id": [s[0] for s in searches], "query": [s[1] for s in searches],
                           "timestamp": [s[2] for s in searches]}) if searches else None,
    ).validate()


def expected_facts(ds: Dataset, cfg: CompressionConfig) -> dict[str, Counter]:
    out: dict[str, Counter] = {u: Counter() for u in ds.users.column("user_id").to_pylist()}
    for e in ds.events.to_pylist():
        if e["behavior"] in cfg.behaviors:
            out[e["user_id"]][(e["item_id"], e["behavior"], period_label(e["timestamp"], REFERENCE))] += 1
    for s in ds.searches.to_pylist():
        if clean_text(s["query"]):
            out[s["user_id"]][(clean_text(s["query"]), "search", period_label(s["timestamp"], REFERENCE))] += 1
    if not cfg.count_repeats:
        out = {u: Counter(set(c)) for u, c in out.items()}
    return out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ds=logs(), count_repeats=st.booleans(), all_behaviors=st.booleans())
def test_compression_round_trip_is_lossless(ds, count_repeats, all_behaviors):
    cfg = CompressionConfig(reference_date=REFERENCE, count_repeats=count_repeats, token_budget=None,
                            tokenizer="approx", fold="dev",
                            behaviors=list(BEHAVIORS) if all_behaviors else ["favorite", "cart", "purchase"])
    table = compress_users(ds, cfg, counter=ApproxTokenCounter())
    texts = item_texts(ds.items, cfg.item_text)
    expected = expected_facts(ds, cfg)
    assert sorted(table.column("user_id").to_pylist()) == sorted(expected)
    for row in table.to_pylist():
        got = facts_to_items(parse_compressed(row["text"]), texts)
        assert got == expected[row["user_id"]], row["text"]
        assert row["n_facts"] == len(expected[row["user_id"]])
        assert row["n_lines"] == len([line for line in row["text"].splitlines() if line])


@settings(max_examples=60, deadline=None)
@given(ds=logs())
def test_same_items_with_same_periods_share_one_line(ds):
    """Step 2: within a user, no two lines have the same period-behavior header."""
    cfg = CompressionConfig(reference_date=REFERENCE, token_budget=None, tokenizer="approx", fold="dev")
    for row in compress_users(ds, cfg, counter=ApproxTokenCounter()).to_pylist():
        headers = [line.split(" | ")[0] for line in row["text"].splitlines()]
        assert len(headers) == len(set(headers))
