"""Cache hits per second: a full rerun of a finished batch, through LLMRuntime (templates rendered, keys
hashed, answers read from SQLite and validated against the schema), plus one-call-at-a-time ``run`` and
the bare ``AnswerCache.get``.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_llm_cache.py --calls 5000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from recgpt.llm.runtime import FakeBackend, LLMConfig, LLMRequest, LLMRuntime
from recgpt.llm.smoke import Color


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench_llm_cache_"))
    fake = FakeBackend(lambda prompt: '{"color": "red"}')
    config = LLMConfig(backend="fake", progress=False)
    runtime = LLMRuntime(config, cache_path=folder / "cache.sqlite", usage_path=folder / "usage.jsonl", backend=fake)
    requests = [LLMRequest(f"user {i}", "smoke", {"item": f"item number {i}"}, schema=Color) for i in range(args.calls)]
    start = time.perf_counter()
    runtime.run_batch(requests)
    fill = time.perf_counter() - start
    print(f"filled {args.calls} answers (fake backend) in {fill:.2f} s")

    start, cpu = time.perf_counter(), time.process_time()
    results = runtime.run_batch(requests)
    report("run_batch, all hits", args.calls, start, cpu)
    assert all(r.cached and r.ok for r in results) and fake.calls == args.calls

    sample = requests[: min(2000, args.calls)]
    start, cpu = time.perf_counter(), time.process_time()
    for request in sample:
        assert runtime.run(request).cached
    report("run, one call at a time", len(sample), start, cpu)

    cache = runtime.cache
    keys = cache.keys()
    start, cpu = time.perf_counter(), time.process_time()
    for key in keys:
        cache.get(key)
    report("AnswerCache.get alone", len(keys), start, cpu)


def report(what: str, calls: int, start: float, cpu: float) -> None:
    """Calls per wall second, and per CPU second of this process (what one idle core would do: the
    machine this was measured on is shared, so wall time includes waiting for a core)."""
    wall, busy = time.perf_counter() - start, time.process_time() - cpu
    print(f"{what}: {calls / wall:,.0f} calls/s wall, {calls / busy:,.0f} calls per CPU-second "
          f"({calls} calls, {wall:.2f} s wall, {busy:.2f} s CPU; target >= 5,000/s)")


if __name__ == "__main__":
    main()
