"""Fixed per-call cost of a JSON schema in the embedded backend, before and after grammar reuse.

For each schema, calls with max_tokens=1 isolate the fixed cost (prompt evaluation is shared and the
prompt is identical, so llama.cpp's prefix cache makes it the same for every variant):
  plain                  no constraint
  fresh                  schema -> grammar on every call (llama-cpp-python's response_format path)
  reused                 the backend's per-schema grammar cache (LlamaCppBackend.grammar_for)
  reused + greedy-first  the same, with the backend's greedy-first grammar sampler
Fixed cost = median(variant) - median(plain). Then full answers (median of --full-repeats): the grammar's
real cost is per generated token (stock llama-cpp-python checks every vocabulary entry each step;
greedy-first checks the best token first).

    PYTHONPATH=src .venv/bin/python benchmarks/bench_llm_grammar.py --threads 1 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from pydantic import BaseModel, Field

from recgpt.llm.llama_cpp_backend import LlamaCppBackend
from recgpt.llm.smoke import Color


class Interest(BaseModel):
    interest: str = Field(description="a short noun phrase")
    reason: str = Field(description="which behaviors support it")


class Interests(BaseModel):
    interests: list[Interest] = Field(min_length=1, max_length=8)


class Tag(BaseModel):
    tag: str
    interest: str
    reason: str
    confidence: float = Field(ge=0, le=1)


class Tags(BaseModel):
    tags: list[Tag] = Field(min_length=1, max_length=10)
    user_summary: str | None = None


PROMPT = "A user bought pens, printer paper, a stapler and a desk lamp. Describe their interests as JSON."


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--answer-tokens", type=int, default=64)
    parser.add_argument("--full-repeats", type=int, default=3, help="repeats of the full answers (median)")
    args = parser.parse_args()
    from llama_cpp import LlamaGrammar

    stock = LlamaCppBackend(threads=args.threads, n_ctx=1024, fast_grammar=False)
    fast = LlamaCppBackend(threads=args.threads, n_ctx=1024, fast_grammar=True)
    messages = [{"role": "user", "content": PROMPT}]

    def call(backend, grammar, max_tokens):
        return backend.llm.create_chat_completion(messages, max_tokens=max_tokens, temperature=0.0, grammar=grammar)

    for backend in (stock, fast):
        call(backend, None, 1)  # warm up; fills the prefix cache with the prompt
    plain = timed(lambda: call(stock, None, 1), args.repeats)
    print(f"plain call, 1 token: {plain * 1000:.1f} ms (median of {args.repeats})")
    for model in (Color, Interests, Tags):
        schema = model.model_json_schema()
        text = json.dumps(schema)
        compile_s = timed(lambda: LlamaGrammar.from_json_schema(text, verbose=False), args.repeats)
        fresh = timed(lambda: call(stock, LlamaGrammar.from_json_schema(text, verbose=False), 1), args.repeats)
        reused = timed(lambda: call(stock, stock.grammar_for(schema), 1), args.repeats)
        reused_fast = timed(lambda: call(fast, fast.grammar_for(schema), 1), args.repeats)
        print(f"{model.__name__:9s} schema {len(text):4d} chars: schema->grammar {compile_s * 1000:.2f} ms; fixed cost "
              f"per call: fresh grammar {(fresh - plain) * 1000:+.1f} ms, reused {(reused - plain) * 1000:+.1f} ms, "
              f"reused + greedy-first {(reused_fast - plain) * 1000:+.1f} ms")
        n, limit = args.full_repeats, args.answer_tokens
        rows = {"no grammar": (stock, None), "stock grammar": (stock, stock.grammar_for(schema)),
                "greedy-first grammar": (fast, fast.grammar_for(schema))}
        per_token = {}
        for name, (backend, grammar) in rows.items():
            seconds = timed(lambda: call(backend, grammar, limit), n)
            tokens = call(backend, grammar, limit)["usage"]["completion_tokens"]
            per_token[name] = seconds / tokens
            print(f"    answer of <= {limit} tokens, {name:20s}: {seconds:.2f} s for {tokens} tokens "
                  f"= {per_token[name] * 1000:.1f} ms/token")
        base = per_token["no grammar"]
        print(f"    grammar cost per generated token: stock {(per_token['stock grammar'] - base) * 1000:+.1f} ms, "
              f"greedy-first {(per_token['greedy-first grammar'] - base) * 1000:+.1f} ms")


if __name__ == "__main__":
    main()
