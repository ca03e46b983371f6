"""Runner overhead: generated tokens/s through LLMRuntime.run_batch versus llama-cpp-python called directly.

Both sides use the same loaded model (one Llama instance), the same 20 prompts, greedy decoding and the
same max_tokens, so both generate the same tokens; the difference is the runner (templates, cache-key
hashing, asyncio, usage log, progress). Passes alternate (direct, runner, runner, direct) to cancel drift
from other load on the machine. On a shared machine the wall-clock ratio is noisy, so the script also
prints the runner's own time: the pass's wall time minus the time spent inside the backend's ``complete``,
which bounds the overhead independently of the load (ratio = 1 - that share).

    PYTHONPATH=src .venv/bin/python benchmarks/bench_llm_runner.py --threads 1 --max-tokens 48
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from recgpt.llm.llama_cpp_backend import LlamaCppBackend
from recgpt.llm.runtime import LLMConfig, LLMRequest, LLMRuntime

PROMPTS = [
    f"In one sentence, who would buy {item}?"
    for item in [
        "a box of blue ballpoint pens", "a stapler", "printer paper", "a desk lamp", "sticky notes",
        "a paper shredder", "a label maker", "binder clips", "a whiteboard", "dry erase markers",
        "a file cabinet", "an ergonomic chair", "a laminator", "a calculator", "envelopes",
        "a planner for 2026", "a monitor stand", "rubber bands", "a hole punch", "highlighters",
    ]
]


class TimedBackend(LlamaCppBackend):
    """The same backend, adding up the seconds spent inside ``complete`` (the model's own work)."""

    inside_s = 0.0

    def complete(self, prompt, params, json_schema=None):
        start = time.perf_counter()
        try:
            return super().complete(prompt, params, json_schema)
        finally:
            self.inside_s += time.perf_counter() - start


def direct_pass(backend: LlamaCppBackend, max_tokens: int) -> tuple[int, float, list[str]]:
    llm, tokens, texts = backend.llm, 0, []
    start, cpu = time.perf_counter(), time.process_time()
    for prompt in PROMPTS:
        out = llm.create_chat_completion([{"role": "user", "content": prompt}], max_tokens=max_tokens,
                                         temperature=0.0, seed=0)
        tokens += out["usage"]["completion_tokens"]
        texts.append(out["choices"][0]["message"]["content"])
    return tokens, time.perf_counter() - start, time.process_time() - cpu, texts


def runner_pass(backend: LlamaCppBackend, max_tokens: int, folder: Path, tag: str):
    runtime = LLMRuntime(LLMConfig(progress=True), cache_path=folder / f"cache-{tag}.sqlite",
                         usage_path=folder / f"usage-{tag}.jsonl", backend=backend)
    requests = [LLMRequest(str(i), "raw", {"prompt": p}, max_tokens=max_tokens) for i, p in enumerate(PROMPTS)]
    start, cpu = time.perf_counter(), time.process_time()
    results = runtime.run_batch(requests, description="runner")
    elapsed, busy = time.perf_counter() - start, time.process_time() - cpu
    assert all(r.ok and not r.cached for r in results), [r.error for r in results]
    return sum(r.completion_tokens for r in results), elapsed, busy, [r.text for r in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=48)
    args = parser.parse_args()
    backend = TimedBackend(threads=args.threads, n_ctx=1024)
    backend.llm.create_chat_completion([{"role": "user", "content": "warm up"}], max_tokens=4, temperature=0.0)
    folder = Path(tempfile.mkdtemp(prefix="bench_llm_runner_"))
    totals = {"direct": [0, 0.0, 0.0], "runner": [0, 0.0, 0.0]}
    texts = {}
    for order, kind in enumerate(["direct", "runner", "runner", "direct"]):
        if kind == "direct":
            tokens, seconds, busy, texts[kind] = direct_pass(backend, args.max_tokens)
        else:
            inside_before = backend.inside_s
            tokens, seconds, busy, texts[kind] = runner_pass(backend, args.max_tokens, folder, str(order))
            overhead = seconds - (backend.inside_s - inside_before)
        totals[kind][0] += tokens
        totals[kind][1] += seconds
        totals[kind][2] += busy
        print(f"pass {order + 1} {kind:6s}: {tokens} tokens in {seconds:.2f} s = {tokens / seconds:.1f} tokens/s "
              f"({tokens / busy:.1f} per CPU-second)")
        if kind == "runner":
            print(f"    runner's own time (outside the backend): {overhead * 1000:.1f} ms for {len(PROMPTS)} calls "
                  f"= {overhead / seconds:.2%} of the pass")
    same = sum(a == b for a, b in zip(texts["direct"], texts["runner"]))
    direct_tps = totals["direct"][0] / totals["direct"][1]
    runner_tps = totals["runner"][0] / totals["runner"][1]
    print(f"identical answers: {same}/{len(PROMPTS)}")
    print(f"direct llama-cpp-python: {direct_tps:.1f} tokens/s; through the runner: {runner_tps:.1f} tokens/s")
    print(f"ratio runner/direct: {runner_tps / direct_tps:.3f} (target >= 0.95)")
    direct_cpu = totals["direct"][0] / totals["direct"][2]
    runner_cpu = totals["runner"][0] / totals["runner"][2]
    print(f"per CPU-second (robust to other load): direct {direct_cpu:.1f}, runner {runner_cpu:.1f}, "
          f"ratio {runner_cpu / direct_cpu:.3f}")


if __name__ == "__main__":
    main()
