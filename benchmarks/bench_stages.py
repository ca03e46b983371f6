"""Benchmark of the stages area on the bundled Amazon Office data with the embedded model (SmolLM2-135M).

Prints, as Markdown: phi's held-out accuracy and training time; per LLM stage, users per minute, tokens
per user and the share of candidates that pass the post-checks; the HR@K table (report Table 5) of the
LLM's tags through phi beside the no-LLM baselines on the same users, and the baselines alone on a larger
seeded sample of test users.

    .venv/bin/python benchmarks/bench_stages.py --users 4 --threads 2
    .venv/bin/python benchmarks/bench_stages.py --users 4 --phi-dir /tmp/phi   # reuse a trained phi

A fresh LLM cache is used unless ``--cache`` names one (then cached calls make the timings meaningless).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=4, help="test users the LLM stages run on")
    ap.add_argument("--baseline-users", type=int, default=1000, help="users of the no-LLM baseline table")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--interests-per-user", type=int, default=3)
    ap.add_argument("--tags-per-interest", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=192)
    ap.add_argument("--phi-dir", type=Path, default=None, help="load phi from here (train and save if missing)")
    ap.add_argument("--cache", type=Path, default=None, help="LLM cache (default: a fresh temporary one)")
    ap.add_argument("--show", type=int, default=12, help="print this many rows of each stage's table")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from recgpt.data.loaders import load_amazon_office
    from recgpt.llm.runtime import LLMConfig, LLMRuntime
    from recgpt.stages.config import ExplanationsConfig, InterestsConfig, TagsConfig
    from recgpt.stages.context import build_contexts, sample_users
    from recgpt.stages.explanations import pair_interests_with_items, produce_explanations
    from recgpt.stages.interest_pool import InterestPool
    from recgpt.stages.interests import kept_interests, mine_interests
    from recgpt.stages.phi import TagToCategory
    from recgpt.stages.postchecks import EmbeddingCache
    from recgpt.stages.tag_eval import evaluate_tags
    from recgpt.stages.tags import CatalogHints, predict_tags

    ds = load_amazon_office("data/amazon-office")
    out = ["# stages benchmark", "", f"data: amazon-office, {args.users} seeded test users (seed {args.seed}), "
           f"threads {args.threads}, max_tokens {args.max_tokens}", ""]

    start = time.perf_counter()
    if args.phi_dir and (args.phi_dir / "phi.json").exists():
        phi = TagToCategory.load(args.phi_dir)
        phi_note = f"loaded from {args.phi_dir}"
    else:
        phi = TagToCategory().fit(ds.items.column("title").to_pylist(), ds.items.column("category").to_pylist(),
                                  ds.items.column("brand").to_pylist())
        phi_note = f"trained in {time.perf_counter() - start:.0f} s"
        if args.phi_dir:
            phi.save(args.phi_dir)
    r = phi.report
    print(f"[progress] phi {phi_note}", flush=True)
    out += ["## phi", "", f"{r.n_categories} categories, {r.n_train_items} train / {r.n_test_items} held-out items "
            f"({phi_note}): accuracy {r.accuracy:.3f}, top-3 {r.top3_accuracy:.3f}, "
            f"majority class {r.majority_accuracy:.3f}", ""]

    users = sample_users(ds, args.users, args.seed, "test")
    contexts = build_contexts(ds, users, "test")
    vectors = EmbeddingCache()
    cache = args.cache or Path(tempfile.mkdtemp()) / "cache.sqlite"
    # no re-asks: a cut-off list answer is salvaged by the stage, and a re-ask costs a whole call again
    runtime = LLMRuntime(LLMConfig(threads=args.threads, progress=False, structured_retries=0), cache_path=cache)
    popularity = dict(Counter(ds.history("test").column("item_id").to_pylist()))
    rows = []

    def timed(name, fn):
        t = time.perf_counter()
        outcome = fn()
        wall = time.perf_counter() - t
        c, u = outcome.counts, outcome.usage
        tokens = u["prompt_tokens"] + u["completion_tokens"]
        rate = outcome.pass_rate
        rows.append(f"| {name} | {wall:.0f} | {len(users) / wall * 60:.2f} | {c['calls'] / len(users):.1f} | "
                    f"{tokens / len(users):.0f} | {u['completion_tokens'] / len(users):.0f} | {c['failed_calls']} | "
                    f"{'-' if rate is None else f'{rate:.2f}'} | {json.dumps({k: v for k, v in c.items() if k not in ('calls', 'failed_calls', 'cached_calls', 'users', 'candidates', 'passed')})} |")
        print(f"[progress] {rows[-1]}", flush=True)
        for row in outcome.table.slice(0, args.show).to_pylist():
            print("[row]", json.dumps(row), flush=True)
        return outcome

    pool = InterestPool.from_catalog(ds.items.column("category").to_pylist(), vectors)
    interests = timed("interests", lambda: mine_interests(
        contexts, runtime, pool, InterestsConfig(max_tokens=args.max_tokens), vectors))
    tag_cfg = TagsConfig(max_tokens=args.max_tokens, interests_per_user=args.interests_per_user,
                         tags_per_interest=args.tags_per_interest)
    hints = CatalogHints(ds.items, popularity, phi)
    brands = sorted({b for b in ds.items.column("brand").to_pylist() if b})
    tags = timed("tags", lambda: predict_tags(contexts, kept_interests(interests.table), runtime, tag_cfg, phi,
                                              brands, vectors, hints=hints))
    exp_cfg = ExplanationsConfig(items_per_interest=1, categories_per_interest=1, item_only_for_paired_items=False)
    pairs = pair_interests_with_items(tags.table, ds.items, popularity, exp_cfg)
    today = max(c.today for c in contexts.values())
    timed("explanations", lambda: produce_explanations(pairs, ds.items, runtime, exp_cfg, today))
    out += ["## LLM stages (embedded SmolLM2-135M, fresh cache)", "",
            "| stage | wall s | users/min | calls/user | tokens/user | completion tokens/user | failed calls | "
            "share passing checks | removed by check |", "|---|---|---|---|---|---|---|---|---|", *rows, ""]

    report = evaluate_tags(tags.table, ds, users, "test")
    out += [f"## tag HR@K, {report.n_users} users ({report.n_users_with_tags} with passed tags)", "",
            report.as_markdown(), ""]
    import pyarrow as pa

    empty = pa.table({"user_id": pa.array([], pa.string()), "category": pa.array([], pa.string())})
    big = sample_users(ds, args.baseline_users, args.seed, "test")
    base = evaluate_tags(empty, ds, big, "test")
    out += [f"## no-LLM baselines alone, {base.n_users} users", "",
            "\n".join(line for line in base.as_markdown().splitlines() if "llm_" not in line), ""]
    print("\n".join(out))
    runtime.close()


if __name__ == "__main__":
    main()
