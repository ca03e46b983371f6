"""Wall time and peak memory of the main job per stage, and the headline figures of its report.

    .venv/bin/python benchmarks/bench_pipeline.py --config configs/amazon-office.yaml --sample-users 24 \
        --run-dir runs/bench

Runs ``recgpt run`` in a fresh run folder (unless ``--reuse``), then prints one line per stage (wall seconds,
peak RSS of the process during the stage) and the report's headline table (fused against collaborative-only
and the baselines at K = k_main), plus the time of a second, fully cached run (``--rerun``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

from recgpt.pipeline.config import load_config
from recgpt.pipeline.runner import run_pipeline


#: Idle throughput of SmolLM2-135M through llama-cpp on 2 cores (measured: 105-175 prompt and 40-67
#: generated tokens/s), midpoints, plus a fixed cost per call (template, grammar, cache).
PROMPT_TPS, GEN_TPS, PER_CALL_S = 140.0, 50.0, 0.5
LLM_STAGES = ("interests", "tags", "explanations")


def estimate_idle(run_dir: Path, state: dict, users: int) -> None:
    """On a shared, loaded machine wall time says little; estimate the job on 2 idle cores from the token
    counts the LLM stages really used and the CPU seconds of the other stages."""
    calls = [json.loads(line) for line in (run_dir / "llm" / "usage.jsonl").read_text().splitlines()] \
        if (run_dir / "llm" / "usage.jsonl").exists() else []
    fresh = [c for c in calls if not c.get("cached")]
    prompt = sum(c.get("prompt_tokens") or 0 for c in fresh)
    gen = sum(c.get("completion_tokens") or 0 for c in fresh)
    llm_s = prompt / PROMPT_TPS + gen / GEN_TPS + PER_CALL_S * len(fresh)
    other_cpu = sum(e.get("cpu_s", 0) for name, e in state.items() if name not in LLM_STAGES)
    other_s = other_cpu / 2  # two cores
    per_user = llm_s / max(users, 1)
    fit = int(max(0.0, 1200 - other_s) // per_user) if per_user else 0
    print(f"\nLLM calls {len(fresh)} ({len(calls) - len(fresh)} cache hits), {prompt} prompt + {gen} generated tokens")
    print(f"estimated on 2 idle cores: LLM stages {llm_s:.0f} s ({per_user:.0f} s per user), "
          f"other stages {other_s:.0f} s (their CPU seconds / 2); users that fit 20 minutes: {fit}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/amazon-office.yaml")
    parser.add_argument("--sample-users", type=int, default=None)
    parser.add_argument("--backend", default=None)
    parser.add_argument("--run-dir", default="runs/bench")
    parser.add_argument("--reuse", action="store_true", help="keep the run folder (resume instead of fresh)")
    parser.add_argument("--rerun", action="store_true", help="time a second run that should skip every stage")
    args = parser.parse_args()
    run_dir = Path(args.run_dir)
    if run_dir.exists() and not args.reuse:
        shutil.rmtree(run_dir)
    config = load_config(args.config, {"evaluation.sample_users": args.sample_users, "llm.backend": args.backend})
    start = time.perf_counter()
    run_pipeline(config, run_dir)
    total = time.perf_counter() - start
    state = json.loads((run_dir / "stages.json").read_text())["stages"]
    print(f"\nmain job: {args.config}, sample_users={config.evaluation.sample_users}, "
          f"backend={config.llm.backend}, cpus={os.cpu_count()}")
    print(f"{'stage':<14}{'wall s':>9}{'CPU s':>9}{'peak RSS MB':>13}")
    for name, entry in state.items():
        print(f"{name:<14}{entry['wall_s']:>9.1f}{entry.get('cpu_s', 0):>9.1f}{entry['peak_rss_mb']:>13.0f}")
    cpu = sum(e.get("cpu_s", 0) for e in state.values())
    print(f"{'total':<14}{total:>9.1f}{cpu:>9.1f}   (load average now: {os.getloadavg()[0]:.1f})")
    estimate_idle(run_dir, state, config.evaluation.sample_users)
    if args.rerun:
        start = time.perf_counter()
        outcomes = run_pipeline(config, run_dir)
        print(f"rerun (nothing changed): {time.perf_counter() - start:.1f} s, "
              f"{sum(o.status == 'skipped' for o in outcomes)}/{len(outcomes)} stages skipped")
    metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())
    k = metrics["k_main"]
    print(f"\nheadline figures, {metrics['sample']['users']} sampled test users with LLM tags, K={k}, "
          f"beta tuned={metrics.get('beta_tuned')}")
    print(f"{'method':<16}{'Recall':>9}{'NDCG':>9}{'categories':>12}{'long tail':>11}{'Gini':>8}")
    for population in ("sample", "sample_title_tags", "all_users"):
        block = metrics.get(population)
        if not block or not block.get("methods"):
            continue
        if population == "sample_title_tags":
            print(f"-- {block['users']} sampled users without LLM tags (item-title tags)")
        if population == "all_users":
            print(f"-- all {block['users']} test users, methods without LLM")
        for name, v in block["methods"].items():
            print(f"{name:<16}{v[f'recall@{k}']:>9.4f}{v[f'ndcg@{k}']:>9.4f}{v[f'categories@{k}']:>12.2f}"
                  f"{v[f'long_tail@{k}']:>11.3f}{v[f'gini@{k}']:>8.3f}")
    tag_eval = run_dir / "eval" / "tag_eval.json"
    if tag_eval.exists():
        t = json.loads(tag_eval.read_text())
        for name, values in t["series"].items():
            print(f"tag HR@{t['ks']} {name}: {[round(v, 3) for v in values]}")


if __name__ == "__main__":
    main()
