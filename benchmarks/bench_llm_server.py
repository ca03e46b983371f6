"""Throughput of the openai backend against a real llama.cpp server at 1, 4 and 8 requests in flight.

Starts ``python -m llama_cpp.server`` with SmolLM2 on loopback (or uses ``--base-url`` to measure any other
OpenAI-compatible server: vLLM, SGLang, Ollama), sends the same batch at each concurrency through
LLMRuntime (no cache) and prints requests/s and generated tokens/s.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_llm_server.py --requests 16 --max-tokens 32
    PYTHONPATH=src .venv/bin/python benchmarks/bench_llm_server.py --base-url http://gpu-box:8000/v1 \\
        --model Qwen/Qwen2.5-7B-Instruct --requests 256 --in-flight 1 8 32 64
"""

from __future__ import annotations

import argparse
import contextlib
import time

from recgpt.llm.local_server import LlamaServer
from recgpt.llm.runtime import LLMConfig, LLMRequest, LLMRuntime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--in-flight", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--threads", type=int, default=2, help="threads of the local llama.cpp server")
    parser.add_argument("--base-url", default=None, help="measure this server instead of a local llama.cpp one")
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    server = contextlib.nullcontext(args.base_url) if args.base_url else LlamaServer(threads=args.threads, n_ctx=2048)
    with server as url:
        print(f"server: {url}")
        for width in args.in_flight:
            config = LLMConfig(backend="openai", progress=False, options={"openai": {
                "base_url": url, "model": args.model, "max_in_flight": width, "timeout_s": 600}})
            requests = [
                LLMRequest(str(i), "raw", {"prompt": f"Write one sentence about office item number {i} (w{width})."},
                           max_tokens=args.max_tokens)
                for i in range(args.requests)
            ]
            with LLMRuntime(config) as runtime:
                start = time.perf_counter()
                results = runtime.run_batch(requests)
                seconds = time.perf_counter() - start
            failed = [r.error for r in results if not r.ok]
            tokens = sum(r.completion_tokens for r in results)
            print(f"{width} in flight: {len(results)} requests in {seconds:.2f} s = {len(results) / seconds:.2f} req/s, "
                  f"{tokens / seconds:.1f} generated tokens/s, failures {len(failed)} {failed[:1]}")


if __name__ == "__main__":
    main()
