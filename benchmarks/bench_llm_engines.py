"""llama-cpp-python (one request at a time) against the torch engine (batched) on the same real prompts.

The prompts are the three LLM stages' own, rendered by the stages code from the bundled Amazon Office
data: one interest-mining prompt per sampled test user, one tag prompt per user (for an interest built
from the user's most frequent category, with popular items of that category as hints) and one
explanation prompt per user (that interest and the category's most popular item the user has not
bought), each with its stage's answer schema and budget (``--max-tokens`` caps it). Each engine and batch
size runs in its own subprocess (fresh memory, peak RSS of its own), the stages in turn, greedy.

Printed per engine: prompt, generated and total tokens/s, wall seconds per prompt of each stage, the share
of answers that are valid JSON and that validate against the stage's answer model, the share identical to
llama-cpp's greedy answers and to torch's own batch-1 answers (the agreement of batched bf16 decoding),
peak RSS, total tokens per CPU-second of the process (less sensitive to other load on a shared machine
than wall time) and the 1-minute load average before and after the run. Then, for one batch size, the
cost of the grammar per generated token (time inside xgrammar) and the same run without schemas.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_llm_engines.py                      # 64 prompts, all batches
    PYTHONPATH=src .venv/bin/python benchmarks/bench_llm_engines.py --prompts 12 --batch-sizes 1 8 --max-tokens 96
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

STAGES = ("interests", "tags", "explanations")


def build_prompts(n: int, seed: int, max_tokens: int | None) -> list[dict]:
    """``n`` stage prompts (a third per stage, interests first), as {stage, text, max_tokens, schema, model}."""
    from recgpt.llm.prompts import PromptLibrary
    from recgpt.llm.structured import json_schema_for

    per_stage = [n // 3 + (1 if i < n % 3 else 0) for i in range(3)]
    requests = build_requests(max(per_stage), seed)
    library = PromptLibrary()
    prompts = []
    for stage, count in zip(STAGES, per_stage):
        for request in requests[stage][:count]:
            prompts.append({
                "stage": stage, "text": library.render(request.task, request.variables, request.version).text,
                "max_tokens": min(request.max_tokens, max_tokens or request.max_tokens),
                "schema": json_schema_for(request.schema), "model": f"{request.schema.__module__}:{request.schema.__name__}",
            })
    return prompts


def build_requests(n_users: int, seed: int) -> dict[str, list]:
    """One request per stage for each of ``n_users`` seeded test users of the bundled Office data, as the
    stages build them: {stage: [LLMRequest, ...]}."""
    from recgpt.data.loaders import load_source
    from recgpt.stages.config import ExplanationsConfig, InterestsConfig, TagsConfig
    from recgpt.stages.context import build_contexts, sample_users
    from recgpt.stages.explanations import Pair, explanation_request
    from recgpt.stages.interest_pool import category_interest
    from recgpt.stages.interests import interest_request
    from recgpt.stages.phi import short_title
    from recgpt.stages.tags import tag_requests

    ds = load_source("amazon-office", Path(__file__).resolve().parents[1] / "data" / "amazon-office")
    users = sample_users(ds, n_users, seed, "test")
    contexts = build_contexts(ds, users, "test")
    popularity = Counter(ds.history("test").column("item_id").to_pylist())
    items = {row["item_id"]: row for row in ds.items.to_pylist()}
    by_category: dict[str, list[str]] = {}
    for item_id in sorted(items, key=lambda i: (-popularity[i], i)):
        by_category.setdefault(items[item_id]["category"], []).append(item_id)
    requests: dict[str, list] = {stage: [] for stage in STAGES}
    for user in users:
        ctx = contexts[user]
        ranked = [c for c, _ in Counter(ctx.history_categories).most_common()]
        pool = [category_interest(c) for c in ranked][:10]
        interest, category = pool[0], ranked[0]
        seen = set(ctx.history_item_ids)
        unseen = [i for i in by_category[category] if i not in seen] or by_category[category]

        def hints(_interest, exclude, k, _category=category):
            titles = [short_title(items[i]["title"], items[i]["brand"], 4).lower()
                      for i in by_category[_category] if i not in exclude]
            return list(dict.fromkeys(t for t in titles if len(t.split()) >= 2))[:k]

        requests["interests"].append(interest_request(ctx, pool, InterestsConfig()))
        requests["tags"].append(tag_requests(ctx, [interest], TagsConfig(interests_per_user=1), hints)[0])
        pair = Pair(interest, unseen[0], ())
        requests["explanations"].append(explanation_request(pair, items[unseen[0]], ctx.today, ExplanationsConfig()))
    return requests


def run_engine(engine: str, batch_size: int, prompts: list[dict], threads: int, dtype: str, schemas: bool) -> dict:
    """Worker side: load the engine, warm it up, answer every stage's prompts; times and answers."""
    from recgpt.llm.base import DecodingParams

    if engine == "llama-cpp":
        from recgpt.llm.llama_cpp_backend import LlamaCppBackend

        backend = LlamaCppBackend(threads=threads, n_ctx=4096)
        backend.complete("Say hi.", DecodingParams(4))

        def answer(batch):
            return [backend.complete(p["text"], DecodingParams(p["max_tokens"]), p["schema"] if schemas else None)
                    for p in batch]
    else:
        from recgpt.llm.torch_backend import TorchBackend

        backend = TorchBackend(dtype=dtype, threads=threads, batch_size=batch_size)
        backend.complete("Say hi.", DecodingParams(4))
        stats = backend.generator.stats
        stats.prefill_s = stats.decode_s = stats.grammar_s = 0.0
        stats.generated_tokens = stats.prompt_tokens = 0

        def answer(batch):
            return backend.complete_batch([p["text"] for p in batch], [DecodingParams(p["max_tokens"]) for p in batch],
                                          [p["schema"] if schemas else None for p in batch])
    out: dict = {"texts": [], "prompt_tokens": 0, "completion_tokens": 0, "stage_s": {}, "errors": [],
                 "load_before": os.getloadavg()[0]}
    cpu = time.process_time()
    for stage in STAGES:
        batch = [p for p in prompts if p["stage"] == stage]
        if not batch:
            continue
        start = time.perf_counter()
        results = answer(batch)
        out["stage_s"][stage] = (time.perf_counter() - start, len(batch))
        for r in results:
            if isinstance(r, Exception):
                out["errors"].append(str(r))
                out["texts"].append(None)
            else:
                out["texts"].append(r.text)
                out["prompt_tokens"] += r.prompt_tokens
                out["completion_tokens"] += r.completion_tokens
    out["cpu_s"] = time.process_time() - cpu
    out["load_after"] = os.getloadavg()[0]
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if engine == "torch":
        out["stats"] = {k: v for k, v in vars(backend.generator.stats).items() if k != "extra"}
    return out


def score(texts: list, prompts: list[dict]) -> tuple[float, float]:
    """Shares of answers that parse as JSON and that validate against their stage's answer model."""
    import importlib

    parsed = valid = 0
    for text, prompt in zip(texts, prompts):
        try:
            data = json.loads(text)
        except (TypeError, ValueError):
            continue
        parsed += 1
        module, name = prompt["model"].split(":")
        try:
            getattr(importlib.import_module(module), name).model_validate(data)
            valid += 1
        except ValueError:
            pass
    return parsed / len(prompts), valid / len(prompts)


def same(a: list, b: list) -> float:
    return sum(x is not None and x == y for x, y in zip(a, b)) / max(1, len(a))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=64, help="stage prompts in all (a third per stage)")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 16, 32, 64])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    ap.add_argument("--max-tokens", type=int, default=None, help="cap on the stages' answer budgets (384, 384, 64)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the user sample")
    ap.add_argument("--no-llama-cpp", action="store_true", help="skip the llama-cpp-python baseline")
    ap.add_argument("--grammar-batch", type=int, default=32, help="batch size of the with/without-schema runs; 0 = skip")
    ap.add_argument("--save", type=Path, default=None, help="write every figure and answer to this JSON file")
    ap.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)  # engine batch prompts.json out.json schemas
    args = ap.parse_args()
    if args.worker:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        engine, batch, prompt_file, out_file, schemas = args.worker
        prompts = json.loads(Path(prompt_file).read_text())
        result = run_engine(engine, int(batch), prompts, args.threads, args.dtype, schemas == "1")
        Path(out_file).write_text(json.dumps(result))
        return

    prompts = build_prompts(args.prompts, args.seed, args.max_tokens)
    folder = Path(tempfile.mkdtemp(prefix="bench_llm_engines_"))
    prompt_file = folder / "prompts.json"
    prompt_file.write_text(json.dumps(prompts))
    counts = Counter(p["stage"] for p in prompts)
    print(f"# LLM engines: {len(prompts)} stage prompts ({dict(counts)}), threads {args.threads}, "
          f"torch dtype {args.dtype}, greedy", flush=True)

    def launch(engine: str, batch: int, schemas: bool = True) -> dict:
        out_file = folder / f"{engine}-{batch}-{int(schemas)}.json"
        command = [sys.executable, __file__, "--threads", str(args.threads), "--dtype", args.dtype,
                   "--worker", engine, str(batch), str(prompt_file), str(out_file), "1" if schemas else "0"]
        start = time.perf_counter()
        subprocess.run(command, check=True)
        result = json.loads(out_file.read_text())
        result["process_s"] = time.perf_counter() - start
        print(f"[progress] {engine} batch {batch} schemas {schemas}: {sum(s for s, _ in result['stage_s'].values()):.1f} s",
              flush=True)
        return result

    runs = {} if args.no_llama_cpp else {"llama-cpp": launch("llama-cpp", 1)}
    for batch in args.batch_sizes:
        runs[f"torch b{batch}"] = launch("torch", batch)
    reference = runs.get("llama-cpp")
    torch_one = runs.get("torch b1")
    rows = ["| engine | prompt tok/s | generated tok/s | total tok/s | x llama-cpp | "
            + " | ".join(f"s/prompt {s}" for s in STAGES if counts[s])
            + " | valid JSON | schema-valid | = llama-cpp | = torch b1 | peak RSS MB | total tok per CPU-s | load avg |",
            "|" + "---|" * (12 + sum(1 for s in STAGES if counts[s]))]
    base_total = None
    for name, run in runs.items():
        wall = sum(s for s, _ in run["stage_s"].values())
        total = (run["prompt_tokens"] + run["completion_tokens"]) / wall
        base_total = base_total or (total if name == "llama-cpp" else None)
        parsed, valid = score(run["texts"], prompts)
        per_stage = " | ".join(f"{run['stage_s'][s][0] / run['stage_s'][s][1]:.2f}" for s in STAGES if counts[s])
        rows.append(
            f"| {name} | {run['prompt_tokens'] / wall:.0f} | {run['completion_tokens'] / wall:.1f} | {total:.0f} | "
            f"{total / base_total if base_total else float('nan'):.2f} | {per_stage} | {parsed:.2f} | {valid:.2f} | "
            f"{same(run['texts'], reference['texts']) if reference else float('nan'):.2f} | "
            f"{same(run['texts'], torch_one['texts']) if torch_one else float('nan'):.2f} | {run['peak_rss_mb']:.0f} | "
            f"{(run['prompt_tokens'] + run['completion_tokens']) / run['cpu_s']:.0f} | "
            f"{run['load_before']:.1f}-{run['load_after']:.1f} |"
        )
        if run["errors"]:
            rows.append(f"|  errors: {Counter(run['errors']).most_common(3)} |")
    print("\n".join(rows))
    if args.grammar_batch:
        with_schema = runs.get(f"torch b{args.grammar_batch}") or launch("torch", args.grammar_batch)
        without = launch("torch", args.grammar_batch, schemas=False)
        s_with, s_without = with_schema["stats"], without["stats"]
        print(f"\n## grammar cost at batch {args.grammar_batch}")
        print(f"time inside xgrammar (masks, closing mode): {s_with['grammar_s'] / s_with['generated_tokens'] * 1000:.3f} ms "
              f"per generated token = {s_with['grammar_s'] / s_with['decode_s']:.1%} of decode time")
        for label, s in (("with schemas", s_with), ("without schemas", s_without)):
            print(f"{label}: decode {s['decode_s'] / s['generated_tokens'] * 1000:.2f} ms per generated token "
                  f"({s['generated_tokens']} tokens, {s['decode_steps']} steps), prefill "
                  f"{s['prompt_tokens'] / s['prefill_s']:.0f} prompt tok/s")
    if args.save:
        args.save.write_text(json.dumps({"prompts": prompts, "runs": runs}, indent=1))
        print(f"\nsaved to {args.save}")


if __name__ == "__main__":
    main()
