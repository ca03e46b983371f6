"""Tokens per user: naive rendering (one line per event) versus hierarchical compression (report 2.1.1).

    .venv/bin/python benchmarks/bench_compression.py                  # real data + 40 lifelong users
    .venv/bin/python benchmarks/bench_compression.py --users 10 --skip-real

For each data set: tokens per user of
  naive-all       one line per event of the whole history, clicks included: ``YYYY-MM-DD behavior item``
  naive-reliable  the same lines for the reliable events only (extraction without compression)
  compressed      reliable events + searches, hierarchically compressed, no budget
and the share of users whose text fits 8k, 32k and 128k tokens. The real data sets are counted with
SmolLM2's tokenizer; the generated lifelong log (synthetic, see lifelong.py, millions of characters per
user) with the approximate counter set to the characters per SmolLM2 token measured on a sample of both
renderings of that log (printed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lifelong import lifelong_dataset  # noqa: E402

from recgpt.behavior.compression import CompressionConfig, compress_users, naive_render  # noqa: E402
from recgpt.behavior.extraction import extract_reliable  # noqa: E402
from recgpt.behavior.item_text import item_texts  # noqa: E402
from recgpt.behavior.tokens import ApproxTokenCounter, make_token_counter  # noqa: E402
from recgpt.data.dataset import Dataset  # noqa: E402

BUDGETS = (8192, 32768, 131072)


def tokens_of(texts: list[str], counter) -> np.ndarray:
    return np.array(counter.count_many(texts), dtype=np.int64)


def per_user(dataset, counter, fold: str) -> dict[str, np.ndarray]:
    """Token counts per user (all users with a reliable event) for the three renderings."""
    cfg = CompressionConfig(token_budget=None, tokenizer="approx", fold=fold)
    labels = item_texts(dataset.items, cfg.item_text)
    history = dataset.history(None if fold == "all" else fold)
    reliable, _ = extract_reliable(history, None, cfg.behaviors)
    started = time.perf_counter()
    compressed = pl.from_arrow(compress_users(dataset, cfg, counter=counter)).filter(pl.col("n_events") > 0)
    seconds = time.perf_counter() - started
    users = compressed.select("user_id")
    naive_all = users.join(naive_render(pl.from_arrow(history), labels), on="user_id", how="left")
    naive_rel = users.join(naive_render(pl.from_arrow(reliable), labels), on="user_id", how="left")
    return {
        "naive-all": tokens_of(naive_all["text"].fill_null("").to_list(), counter),
        "naive-reliable": tokens_of(naive_rel["text"].fill_null("").to_list(), counter),
        "compressed": compressed["n_tokens"].to_numpy(),
        "seconds": np.array([seconds]),
        "events": np.array([history.num_rows]),
    }


def report(name: str, counts: dict, counter_name: str) -> None:
    print(f"\n### {name}  (tokenizer: {counter_name}; {len(counts['compressed']):,} users, "
          f"{int(counts['events'][0]):,} events, compression {counts['seconds'][0]:.1f} s)\n")
    print("| rendering | mean tokens/user | median | p95 | max | " + " | ".join(f"fit {b // 1024}k" for b in BUDGETS) + " |")
    print("|---|---:|---:|---:|---:|" + "---:|" * len(BUDGETS))
    for kind in ("naive-all", "naive-reliable", "compressed"):
        t = counts[kind]
        fits = " | ".join(f"{(t <= b).mean():.1%}" for b in BUDGETS)
        print(f"| {kind} | {t.mean():,.0f} | {np.median(t):,.0f} | {np.percentile(t, 95):,.0f} | {t.max():,} | {fits} |")
    ratio = counts["naive-reliable"].sum() / max(counts["compressed"].sum(), 1)
    ratio_all = counts["naive-all"].sum() / max(counts["compressed"].sum(), 1)
    print(f"\ncompression: {ratio:.2f}x fewer tokens than naive-reliable, {ratio_all:.2f}x fewer than naive-all")


def calibrate(dataset, users: int = 2) -> float:
    """Characters per SmolLM2 token on both renderings of a few users (at most 200,000 characters each)."""
    small = dataset.events.filter(pc.is_in(dataset.events.column("user_id"),
                                           value_set=dataset.users.column("user_id").slice(0, users)))
    ds = Dataset(dataset.name, dataset.items, dataset.users.slice(0, users), small)
    cfg = CompressionConfig(token_budget=None, tokenizer="approx", fold="all")
    compressed = compress_users(ds, cfg, counter=ApproxTokenCounter())["text"].to_pylist()
    reliable, _ = extract_reliable(small, None, cfg.behaviors)
    naive = naive_render(pl.from_arrow(reliable), item_texts(ds.items))["text"].to_list()
    exact = make_token_counter("smollm2")
    texts = [t[:200_000] for t in compressed + naive if t]
    chars_per_token = sum(map(len, texts)) / sum(exact.count_many(texts))
    print(f"calibration: {chars_per_token:.2f} characters per SmolLM2 token on {len(texts)} sample texts")
    return chars_per_token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=40, help="users of the generated lifelong log")
    parser.add_argument("--events-per-user", type=int, default=37_000)
    parser.add_argument("--years", type=int, default=8)
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--tokenizer", default="smollm2", help="counter for the real data sets")
    args = parser.parse_args()
    if not args.skip_real:
        from recgpt.data.loaders import load_amazon_office, load_taobao

        counter = make_token_counter(args.tokenizer)
        report("Amazon Office (history of the test fold)", per_user(load_amazon_office(), counter, "test"), counter.name)
        report("Taobao UserBehavior sample", per_user(load_taobao(), counter, "all"), counter.name)
    started = time.perf_counter()
    ds = lifelong_dataset(args.users, args.events_per_user, args.years)
    print(f"\n(generated {ds.events.num_rows:,} synthetic events in {time.perf_counter() - started:.1f} s)")
    counter = ApproxTokenCounter(calibrate(ds))
    counts = per_user(ds, counter, "all")
    report(f"Generated lifelong log, synthetic ({args.users} users x ~{args.events_per_user:,} events, "
           f"{args.years} years)", counts, counter.name)


if __name__ == "__main__":
    main()
