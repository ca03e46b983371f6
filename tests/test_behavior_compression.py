"""Extraction, time partitions, item texts, a worked compression example, token budgets, user sizes."""

from collections import Counter
from datetime import UTC, date, datetime

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from recgpt.behavior.compression import CompressionConfig, compress_users, render_facts
from recgpt.behavior.extraction import extract_reliable
from recgpt.behavior.item_text import ItemTextConfig, compress_item_text, item_texts
from recgpt.behavior.parser import ParseError, facts_to_items, parse_compressed
from recgpt.behavior.periods import period_label
from recgpt.behavior.tokens import ApproxTokenCounter
from recgpt.data.dataset import Dataset

REF = date(2024, 6, 15)


def ts(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


def dataset(events, searches=(), users=("u1",), items=None):
    items = items or {"A": "Alpha Pen", "B": "Beta Lamp", "C": "Gamma Tape", "D": "Delta Desk"}
    return Dataset(
        "t",
        items=pa.table({"item_id": list(items), "title": list(items.values()), "category": [""] * len(items)}),
        users=pa.table({"user_id": list(users)}),
        events=pa.table({"user_id": pa.array([e[0] for e in events], pa.string()),
                         "item_id": pa.array([e[1] for e in events], pa.string()),
                         "behavior": pa.array([e[2] for e in events], pa.string()),
                         "timestamp": pa.array([e[3] for e in events], pa.int64())}),
        searches=pa.table({"user_id": [s[0] for s in searches], "query": [s[1] for s in searches],
                           "timestamp": [s[2] for s in searches]}) if searches else None,
    ).validate()


def config(**kw):
    base = dict(reference_date=REF, token_budget=None, tokenizer="approx", fold="dev")
    return CompressionConfig(**(base | kw))


def test_period_boundaries():
    assert period_label(ts("2024-05-17"), REF) == "2024-05-17"  # 29 days ago: a day
    assert period_label(ts("2024-05-16T23:59:59"), REF) == "2024-05"  # 30 days ago: a month
    assert period_label(ts("2023-06-17"), REF) == "2023-06"  # 364 days ago
    assert period_label(ts("2023-06-16"), REF) == "2023"  # 365 days ago: a year
    assert period_label(ts("2024-07-01"), REF) == "2024-07-01"  # after the reference date: a day


def test_extraction_keeps_reliable_behaviors_and_searches_drops_clicks():
    ds = dataset([("u1", "A", b, 1) for b in ("click", "detail_view", "favorite", "cart", "purchase", "review")],
                 searches=[("u1", "pen", 1), ("u1", "  ", 2)])
    events, searches = extract_reliable(ds.events, ds.searches)
    assert events.column("behavior").to_pylist() == ["detail_view", "favorite", "cart", "purchase", "review"]
    assert searches.column("query").to_pylist() == ["pen"]
    events, searches = extract_reliable(ds.events, ds.searches, ["purchase"], keep_searches=False)
    assert events.num_rows == 1 and searches is None
    with pytest.raises(ValueError, match="unknown behaviors"):
        extract_reliable(ds.events, None, ["like"])


def test_worked_example_renders_the_reports_format():
    ds = dataset(
        [("u1", "A", "purchase", ts("2024-06-10T08:00")), ("u1", "A", "purchase", ts("2024-06-10T09:00")),
         ("u1", "A", "cart", ts("2024-06-10T07:00")), ("u1", "B", "purchase", ts("2024-06-10T10:00")),
         ("u1", "C", "purchase", ts("2022-03-01")), ("u1", "C", "favorite", ts("2024-01-05")),
         ("u1", "D", "purchase", ts("2022-08-01")), ("u1", "D", "favorite", ts("2024-01-20")),
         ("u1", "B", "click", ts("2024-06-11"))],
        searches=[("u1", "gel pen, blue", ts("2024-06-09")), ("u1", "desk", ts("2024-06-09"))],
    )
    row = compress_users(ds, config()).to_pylist()[0]
    assert row["text"] == (
        "2022 (purchase), 2024-01 (favorite) | Delta Desk, Gamma Tape\n"
        "2024-06-09 (search) | desk, gel pen blue\n"
        "2024-06-10 (cart, purchase x2) | Alpha Pen\n"
        "2024-06-10 (purchase) | Beta Lamp"
    )
    assert (row["n_events"], row["n_facts"], row["n_lines"]) == (10, 9, 4)
    dedup = compress_users(ds, config(count_repeats=False)).to_pylist()[0]
    assert "2024-06-10 (cart, purchase) | Alpha Pen\n" in dedup["text"]


def test_reference_date_defaults_to_latest_event_of_any_behavior():
    ds = dataset([("u1", "A", "purchase", ts("2020-01-01")), ("u1", "B", "purchase", ts("2020-01-20"))])
    table = compress_users(ds, config(reference_date=None))
    assert table.schema.metadata[b"reference_date"] == b"2020-01-20"
    assert table.column("text")[0].as_py() == "2020-01-01 (purchase) | Alpha Pen\n2020-01-20 (purchase) | Beta Lamp"
    ds = dataset([("u1", "A", "purchase", ts("2020-01-01")), ("u1", "B", "click", ts("2020-02-01"))])
    table = compress_users(ds, config(reference_date=None))  # the click is dropped but ends the data
    assert table.schema.metadata[b"reference_date"] == b"2020-02-01"
    assert table.column("text")[0].as_py() == "2020-01 (purchase) | Alpha Pen"


def render_kept(facts: Counter, periods: set) -> str:
    """Render facts restricted to ``periods`` through the real renderer (one user)."""
    rows = [{"user_id": "u", "label": lab, "behavior": b, "period": p, "count": c, "n_raw": c}
            for (lab, b, p), c in facts.items() if p in periods]
    return render_facts(pl.DataFrame(rows))["text"][0] if rows else ""


def test_budget_drops_oldest_partitions_first():
    days = ["2019-05-01", "2020-05-01", "2021-05-01", "2022-05-01", "2024-06-01"]
    ds = dataset([("u1", item, "purchase", ts(d)) for item, d in zip("ABCD", days)]
                 + [("u1", "A", "cart", ts(days[4])), ("u1", "A", "cart", ts(days[4]))])
    full = compress_users(ds, config()).to_pylist()[0]
    counter = ApproxTokenCounter(1.0)  # one token per character: exact arithmetic
    length = len(full["text"])
    for budget in sorted(set(range(1, length + 2, 7)) | {length - 1, length, length + 1}):
        row = compress_users(ds, config(token_budget=budget), counter=counter).to_pylist()[0]
        assert row["n_tokens"] <= budget
        all_facts = parse_compressed(full["text"])
        periods = sorted({period for _, _, period in all_facts})
        newest = set(periods[row["dropped_partitions"]:])  # the oldest partitions go first
        assert parse_compressed(row["text"]) == Counter({f: c for f, c in all_facts.items() if f[2] in newest})
        if row["dropped_partitions"]:  # and no fewer would have fitted
            assert len(render_kept(all_facts, set(periods[row["dropped_partitions"] - 1:]))) > budget
        dropped = [1, 1, 1, 1, 2][: row["dropped_partitions"]]
        assert row["dropped_events"] == sum(dropped)
        if budget >= len(full["text"]):
            assert row["dropped_partitions"] == 0 and row["text"] == full["text"]


def test_users_with_zero_one_and_100000_events():
    rng = np.random.default_rng(0)
    n = 100_000
    items = {f"i{k}": f"Item number {k} with a longer product title" for k in range(3000)}
    start = ts("2016-01-01")
    big_items = rng.zipf(1.3, n) % 3000  # heavy repeats, as in real logs
    behaviors = rng.choice(["click", "detail_view", "cart", "purchase", "favorite"], n, p=[.5, .2, .1, .1, .1])
    events = [("big", f"i{i}", b, int(t)) for i, b, t in zip(big_items, behaviors, rng.integers(start, ts("2024-06-14"), n))]
    events.append(("one", "i7", "purchase", ts("2024-06-01")))
    ds = dataset(events, users=("none", "one", "big"), items=items)
    cfg = config()
    rows = {r["user_id"]: r for r in compress_users(ds, cfg).to_pylist()}
    assert rows["none"] == {"user_id": "none", "text": "", "n_events": 0, "n_facts": 0, "n_lines": 0,
                            "n_tokens": 0, "dropped_partitions": 0, "dropped_events": 0}
    assert rows["one"]["text"] == "2024-06-01 (purchase) | Item number 7 with a longer product title"
    big = rows["big"]
    assert big["n_events"] == int((behaviors != "click").sum())
    parsed = facts_to_items(parse_compressed(big["text"]), item_texts(ds.items))
    assert sum(parsed.values()) == big["n_events"]
    fitted = {r["user_id"]: r for r in compress_users(ds, config(token_budget=8192)).to_pylist()}
    assert fitted["big"]["n_tokens"] <= 8192 and fitted["big"]["dropped_partitions"] > 0
    assert fitted["big"]["dropped_events"] + sum(parse_compressed(fitted["big"]["text"]).values()) == big["n_events"]
    assert fitted["one"]["text"] == rows["one"]["text"]


def test_item_text_drops_noise_keeps_name_brand_category_and_caps_length():
    text = compress_item_text("Stapler, heavy duty <b>NEW</b> Free Shipping (C11C387011)", "Staplers", "Swingline",
                              {"color": "black", "noise": "x"})
    assert text == "Swingline Stapler heavy duty (Staplers; color: black)"
    long = compress_item_text(" ".join(f"word{k}" for k in range(50)), "Cat", None, None,
                              ItemTextConfig(max_title_words=40, max_chars=60))
    assert len(long) <= 60 and "," not in long and "|" not in long
    items = pa.table({"item_id": ["1", "2", "3"], "title": ["Pen", "Pen", "Lamp"], "category": ["x", "x", "y"],
                      "brand": [None, None, None], "attributes": pa.nulls(3, pa.map_(pa.string(), pa.string()))})
    assert item_texts(items) == {"1": "Pen (x) #1", "2": "Pen (x) #2", "3": "Lamp (y)"}


def test_parser_rejects_text_not_in_the_compressed_form():
    assert parse_compressed("") == Counter()
    for bad in ("no separator here", "2024 purchase | A", "2024 (purchase) junk | A", "2024 (Purchase) | A"):
        with pytest.raises(ParseError):
            parse_compressed(bad)


def test_smollm2_token_counter():
    pytest.importorskip("llama_cpp")
    from recgpt.behavior.tokens import make_token_counter

    counter = make_token_counter("smollm2")
    counts = counter.count_many(["", "2024-06-10 (cart, purchase x2) | Alpha Pen", "hello " * 100])
    assert counts[0] == 0 and 8 < counts[1] < 30 and 95 <= counts[2] <= 205
