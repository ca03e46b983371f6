"""Distillation from a teacher behind an OpenAI-compatible server, measured: a llama.cpp server on loopback
(``python -m llama_cpp.server`` with the embedded SmolLM2 GGUF) answers the tag stage's prompts for a few users,
asked with the reasoning template; prints calls, tokens, seconds, tokens/s and what the post-checks kept.

    python benchmarks/bench_alignment_teacher.py --run /tmp/w15/office --users 1 --threads 2

The server answers one request at a time, so the cost of a strong teacher scales as (prompts x (prompt tokens /
prefill rate + completion tokens / decode rate)) divided by the server's parallel slots; this run measures those
rates for the embedded model on this machine, not a strong model's.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run folder with data/ (recgpt data load)")
    parser.add_argument("--users", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--interests", type=int, default=2, help="interests per user (one call each)")
    args = parser.parse_args()

    from recgpt.alignment.config import AlignmentConfig
    from recgpt.alignment.distill import distill_set, split_users
    from recgpt.alignment.harvest import StageConfigs
    from recgpt.llm.config import LLMConfig
    from recgpt.llm.local_server import LlamaServer
    from recgpt.llm.runtime import LLMRuntime
    from recgpt.runfolder import RunFolder
    from recgpt.stages.config import InterestsConfig, TagsConfig
    from recgpt.stages.runner import load_run_dataset

    run = RunFolder(args.run)
    dataset = load_run_dataset(run)
    stages = StageConfigs(InterestsConfig(), TagsConfig(interests_per_user=args.interests, tags_per_interest=3,
                                                        hints_per_interest=0, max_tokens=160))
    alignment = AlignmentConfig(distill={"users": args.users, "filter": {"judge": False}, "holdout_share": 0.0},
                                self_training={"heldout_users": 1})
    users, _ = split_users(dataset, args.users, 1, 0)
    start = time.perf_counter()
    with LlamaServer(threads=args.threads, n_ctx=2048) as url:
        started = time.perf_counter() - start
        teacher = LLMConfig(backend="openai", progress=False,
                            options={"openai": {"base_url": url, "model": "smollm2", "timeout_s": 120}})
        with LLMRuntime(teacher) as runtime:  # no cache: every call is measured
            training_set, harvest = distill_set(run, dataset, None, "tags", alignment, stages, runtime, {},
                                                users=users)
    summary = harvest.summary()
    tokens = summary["tokens"]
    print(json.dumps({"server_start_s": round(started, 1), "users": len(users), "calls": summary["counts"]["prompts"],
                      "seconds": summary["seconds"], "prompt_tokens": tokens.get("prompt", 0),
                      "completion_tokens": tokens.get("completion", 0),
                      "tokens_per_s": round((tokens.get("prompt", 0) + tokens.get("completion", 0))
                                            / max(summary["seconds"], 1e-9), 1),
                      "kept_samples": len(training_set.samples), "counts": summary["counts"],
                      "errors": summary["errors"]}, indent=1))


if __name__ == "__main__":
    main()
