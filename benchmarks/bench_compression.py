"""Tokens per user: naive rendering (one line per event) versus hierarchical compression (report 2.1.1).

    .venv/bin/python benchmarks/bench_compression.py                  # real data + 40 lifelong users
    .venv/bin/python benchmarks/bench_compression.py --users 10 --skip-real

For each data set: tokens per user of
  naive-all       one line per event of the whole history, clicks included: ``YYYY-MM-DD behavior item``
  naive-reliable  the same lines for the reliable events only (extraction without compression)
  compressed      reliable events + searches, hierarchically compressed, no budget
and the share of users whose text fits 8k, 32k and 128k tokens. The real data sets are counted with
SmolLM2's tokenizer; the generated lifelong log (synthetic, see lifelong.py) with the approximate counter,
whose ratio to SmolLM2 on samples of both renderings is printed alongside.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lifelong import lifelong_dataset  # noqa: E402

from recgpt.behavior.compression import CompressionConfig, compress_users, naive_render  # noqa: E402
from recgpt.behavior.extraction import extract_reliable  # noqa: E402
from recgpt.behavior.item_text import item_texts  # noqa: E402
from recgpt.behavior.tokens import ApproxTokenCounter, make_token_counter  # noqa: E402

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
        "sample": (naive_rel["text"].head(3).to_list(), compressed["text"].head(3).to_list()),
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


def calibrate(samples: tuple[list[str], list[str]]) -> None:
    try:
        exact = make_token_counter("smollm2")
    except RuntimeError as exc:
        print(f"(no SmolLM2 calibration: {exc})")
        return
    approx = ApproxTokenCounter()
    for kind, texts in zip(("naive", "compressed"), samples):
        texts = [t[:200_000] for t in texts]
        a, e = sum(approx.count_many(texts)), sum(exact.count_many(texts))
        print(f"calibration on {kind} samples: approx/SmolLM2 tokens = {a / max(e, 1):.3f} "
              f"({sum(map(len, texts)) / max(e, 1):.2f} chars per SmolLM2 token)")


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
    counts = per_user(ds, ApproxTokenCounter(), "all")
    report(f"Generated lifelong log, synthetic ({args.users} users x ~{args.events_per_user:,} events, "
           f"{args.years} years)", counts, "approx:3.5")
    calibrate(counts["sample"])


if __name__ == "__main__":
    main()
