"""The local executor against Ray with 2 workers, side by side in one run, on this machine.

1. Tokens per user per stage: the three LLM stages' prompts as the stages render them for ``--token-users``
   seeded test users of the bundled Office data, counted with SmolLM2's tokenizer (prompt tokens; the answers'
   budgets are the stages' ``max_tokens``).
2. One LLM stage with the scripted fake backend (``--fake-calls`` smoke calls answered at once: the
   executor's own cost per call), and the same with an engine that waits ``--engine-wait-ms`` per call
   without using a CPU (a remote server's round trip).
3. One LLM stage with the embedded model (llama-cpp, SmolLM2-135M): ``--stage-prompts`` real stage prompts
   (budgets capped at ``--max-tokens``): local = one engine with 2 threads, Ray = 2 actors of 1 thread each.
4. The batch retrieval job: a TAR trained ``--epochs`` epochs on the Office data, saved with an exact index,
   top-50 for every user; local against a Ray Data job with 2 actors; identical lists checked.
5. Tokens/s against OpenAI-compatible servers: ``--server-prompts`` smoke prompts against one llama.cpp
   server on loopback (local executor) and against two (Ray, one worker per server).

Every Ray figure includes starting the actors (and loading their engine or model); ``ray.init`` itself is
timed apart. The 1-minute load average is printed before and after (the machine may be shared).

    PYTHONPATH=src .venv/bin/python benchmarks/bench_executor.py
    PYTHONPATH=src .venv/bin/python benchmarks/bench_executor.py --skip-llama --epochs 1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def load() -> str:
    return "load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def smoke_answer(prompt: str) -> str:
    item = prompt.split("Item: ", 1)[1].split("\n", 1)[0].strip()
    return json.dumps({"color": item[::-1]})


@dataclasses.dataclass
class FakeEngine:
    """A fake backend answering the smoke template at once, or after ``wait_s`` of sleep (no CPU)."""

    wait_s: float = 0.0

    def __call__(self, config):
        from recgpt.llm.fake import FakeBackend

        def answer(prompt: str) -> str:
            if self.wait_s:
                time.sleep(self.wait_s)
            return smoke_answer(prompt)

        return FakeBackend(answer)


def ray_executor(workers: int, block_size: int, factory=None, **options):
    from recgpt.executors.config import ExecutorConfig
    from recgpt.executors.ray_executor import RayExecutor

    return RayExecutor(ExecutorConfig(name="ray", workers=workers, block_size=block_size, **options),
                       backend_factory=factory)


def timed_batch(config, requests, folder: Path, executor, backend=None) -> tuple[float, list]:
    """Wall seconds of one ``run_batch`` into a fresh cache in ``folder``, and its results."""
    from recgpt.llm.runtime import LLMRuntime

    with LLMRuntime(config, cache_path=folder / "cache.sqlite", backend=backend, executor=executor) as runtime:
        start = time.perf_counter()
        results = runtime.run_batch(requests)
        return time.perf_counter() - start, results


def tokens_per_stage(users: int) -> None:
    from bench_llm_engines import STAGES, build_requests

    from recgpt.behavior.tokens import make_token_counter
    from recgpt.llm.prompts import PromptLibrary

    counter, library = make_token_counter("smollm2"), PromptLibrary()
    requests = build_requests(users, 0)
    print(f"\n1. prompt tokens per call, {users} users of the bundled Office data (SmolLM2 tokenizer)")
    print("| stage | mean prompt tokens | max | answer budget (max_tokens) |")
    print("|---|---:|---:|---:|")
    for stage in STAGES:
        counts = counter.count_many([library.render(r.task, r.variables, r.version).text for r in requests[stage]])
        print(f"| {stage} | {sum(counts) / len(counts):.0f} | {max(counts)} | {requests[stage][0].max_tokens} |")


def fake_stage(calls: int, wait_ms: float, block_size: int, tmp: Path) -> None:
    from recgpt.executors.local import LocalExecutor
    from recgpt.llm.config import LLMConfig
    from recgpt.llm.records import LLMRequest
    from recgpt.llm.smoke import Color

    config = LLMConfig(backend="fake", progress=False, options={"fake": {"answers": ["unused"]}})
    print(f"\n2. fake backend, smoke stage, 2 Ray workers, blocks of {block_size}")
    print("| engine | calls | local s | Ray s (cold: actors started) | Ray s (warm) | Ray / local (warm) |")
    print("|---|---:|---:|---:|---:|---:|")
    for wait_s, n in ((0.0, calls), (wait_ms / 1000, max(8, calls // 10))):
        engine = FakeEngine(wait_s)
        requests = [LLMRequest(f"u{i}", "smoke", {"item": f"item {i}"}, schema=Color) for i in range(n)]
        local_s, local = timed_batch(config, requests, tmp / f"l{n}", LocalExecutor(), engine(config))
        executor = ray_executor(2, block_size, engine)
        cold_s, cold = timed_batch_keep(config, requests, tmp / f"rc{n}", executor, engine(config))
        warm_s, warm = timed_batch_keep(config, requests, tmp / f"rw{n}", executor, engine(config))
        executor.close()
        assert [r.text for r in cold] == [r.text for r in local] == [r.text for r in warm]
        label = "answers at once" if not wait_s else f"waits {wait_ms:g} ms per call"
        print(f"| {label} | {n} | {local_s:.2f} | {cold_s:.2f} | {warm_s:.2f} | {warm_s / local_s:.2f} |")


def timed_batch_keep(config, requests, folder: Path, executor, backend) -> tuple[float, list]:
    """Like :func:`timed_batch`, leaving the executor's actors running (the runtime does not close it)."""
    from recgpt.llm.runtime import LLMRuntime

    runtime = LLMRuntime(config, cache_path=folder / "cache.sqlite", backend=backend, executor=executor)
    start = time.perf_counter()
    results = runtime.run_batch(requests)
    seconds = time.perf_counter() - start
    runtime.cache.close()
    runtime.usage.close()
    return seconds, results


def llama_stage(prompts: int, max_tokens: int, tmp: Path) -> None:
    from bench_llm_engines import STAGES, build_requests

    from recgpt.executors.local import LocalExecutor
    from recgpt.llm.config import LLMConfig

    per_stage = build_requests(max(1, prompts // 3), 0)
    requests = [dataclasses.replace(r, key=f"{stage}-{i}", max_tokens=min(r.max_tokens, max_tokens))
                for stage in STAGES for i, r in enumerate(per_stage[stage])][:prompts]
    print(f"\n3. embedded model (llama-cpp, SmolLM2-135M), {len(requests)} real stage prompts, budgets capped "
          f"at {max_tokens} tokens, greedy")
    print("| executor | engines x threads | wall s | prompt + generated tokens | total tok/s | generated tok/s "
          "| same answers as local |")
    print("|---|---|---:|---:|---:|---:|---:|")
    base = LLMConfig(progress=False, structured_retries=0)
    local_s, local = timed_batch(base.with_options(threads=2, n_ctx=2048), requests, tmp / "llama-local",
                                 LocalExecutor())
    config = base.with_options(threads=1, n_ctx=2048)
    ray_s, distributed = timed_batch(config, requests, tmp / "llama-ray", ray_executor(2, 2))
    same = sum(a.text == b.text for a, b in zip(local, distributed))
    for label, engines, seconds, results, agree in (("local", "1 x 2", local_s, local, "-"),
                                                    ("ray", "2 x 1", ray_s, distributed, f"{same}/{len(requests)}")):
        prompt = sum(r.prompt_tokens for r in results)
        generated = sum(r.completion_tokens for r in results)
        print(f"| {label} | {engines} | {seconds:.1f} | {prompt} + {generated} | {(prompt + generated) / seconds:.1f} "
              f"| {generated / seconds:.1f} | {agree} |")
    print(f"Ray / local wall time: {ray_s / local_s:.2f}")


def retrieval_job(epochs: int, tmp: Path) -> None:
    import numpy as np

    from recgpt.data.loaders import load_source
    from recgpt.executors.config import ExecutorConfig
    from recgpt.executors.local import LocalExecutor
    from recgpt.executors.ray_executor import RayExecutor
    from recgpt.retrieval.config import TARConfig
    from recgpt.retrieval.index import IndexedRecommender
    from recgpt.retrieval.tar import TARRecommender

    root = Path(__file__).resolve().parents[1]
    dataset = load_source("amazon-office", root / "data" / "amazon-office")
    start = time.perf_counter()
    model = TARRecommender(TARConfig(epochs=epochs, threads=2)).fit(dataset, "test")
    folder = tmp / "tar"
    IndexedRecommender(model, "exact").save(folder)
    users = sorted(dataset.users.column("user_id").to_pylist())
    print(f"\n4. batch retrieval job: TAR ({epochs} epoch(s), trained in {time.perf_counter() - start:.0f} s), exact "
          f"index, top-50 for {len(users)} users, batches of 1024")
    print("| executor | wall s | users/s |")
    print("|---|---:|---:|")
    start = time.perf_counter()
    local = LocalExecutor().recommend_users(folder, users, 50)
    local_s = time.perf_counter() - start
    print(f"| local | {local_s:.2f} | {len(users) / local_s:.0f} |")
    executor = RayExecutor(ExecutorConfig(name="ray", workers=2))
    start = time.perf_counter()
    distributed = executor.recommend_users(folder, users, 50)
    ray_s = time.perf_counter() - start
    print(f"| ray (2 actors, Ray Data map_batches) | {ray_s:.2f} | {len(users) / ray_s:.0f} |")
    same = bool((local.item_ids == distributed.item_ids).all() and np.array_equal(local.scores, distributed.scores))
    print(f"Ray / local wall time: {ray_s / local_s:.2f}; identical lists and scores: {same}")


def servers(prompts: int, tmp: Path) -> None:
    from recgpt.executors.local import LocalExecutor
    from recgpt.llm.config import LLMConfig
    from recgpt.llm.local_server import LlamaServer
    from recgpt.llm.records import LLMRequest
    from recgpt.llm.smoke import Color

    items = ["banana", "coal", "snow", "tomato", "grass", "sky", "lemon", "ink", "rose", "sea", "sand", "plum"]
    requests = [LLMRequest(f"s{i}", "smoke", {"item": f"{items[i % len(items)]} {i}"}, schema=Color, max_tokens=24)
                for i in range(prompts)]
    print(f"\n5. OpenAI-compatible llama.cpp servers on loopback (1 thread each), {prompts} smoke prompts")
    print("| executor | servers | wall s | prompt + generated tok/s | generated tok/s |")
    print("|---|---:|---:|---:|---:|")
    with LlamaServer(threads=1, n_ctx=512) as one, LlamaServer(threads=1, n_ctx=512) as two:
        config = LLMConfig(backend="openai", progress=False, structured_retries=0,
                           options={"openai": {"base_url": one, "timeout_s": 120}})
        for label, count, executor in (("local", 1, LocalExecutor()),
                                       ("ray, 2 workers", 2, ray_executor(2, 2, server_urls=[one, two]))):
            seconds, results = timed_batch(config, requests, tmp / label, executor)
            total = sum(r.prompt_tokens + r.completion_tokens for r in results)
            generated = sum(r.completion_tokens for r in results)
            print(f"| {label} | {count} | {seconds:.1f} | {total / seconds:.1f} | {generated / seconds:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--token-users", type=int, default=200)
    ap.add_argument("--fake-calls", type=int, default=2000)
    ap.add_argument("--engine-wait-ms", type=float, default=50.0)
    ap.add_argument("--block-size", type=int, default=64)
    ap.add_argument("--stage-prompts", type=int, default=6)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--server-prompts", type=int, default=12)
    ap.add_argument("--skip-llama", action="store_true", help="skip the sections that run the model (3 and 5)")
    args = ap.parse_args()

    import logging

    import ray

    logging.getLogger("ray.data").setLevel(logging.WARNING)  # Ray Data's progress lines
    print(load())
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    print(f"ray.init (a private Ray, 2 CPUs): {time.perf_counter() - start:.1f} s, Ray {ray.__version__}")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        tokens_per_stage(args.token_users)
        fake_stage(args.fake_calls, args.engine_wait_ms, args.block_size, tmp)
        if not args.skip_llama:
            llama_stage(args.stage_prompts, args.max_tokens, tmp)
        retrieval_job(args.epochs, tmp)
        if not args.skip_llama:
            servers(args.server_prompts, tmp)
    ray.shutdown()
    print("\n" + load())


if __name__ == "__main__":
    main()
