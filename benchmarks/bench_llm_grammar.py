"""Fixed per-call cost of a JSON schema in the embedded backend, before and after grammar reuse.

For each schema, calls with max_tokens=1 isolate the fixed cost (prompt evaluation is shared and the
prompt is identical, so llama.cpp's prefix cache makes it the same for every variant):
  plain      no constraint
  fresh      schema -> grammar on every call (what llama-cpp-python's response_format path does)
  reused     the backend's per-schema grammar cache (LlamaCppBackend.grammar_for)
Fixed cost = median(variant) - median(plain). Then full answers (median of --full-repeats): the grammar's
real cost is per generated token (llama.cpp checks every vocabulary entry against the grammar each step).

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

    backend = LlamaCppBackend(threads=args.threads, n_ctx=1024)
    llm = backend.llm
    messages = [{"role": "user", "content": PROMPT}]

    def call(grammar, max_tokens):
        return llm.create_chat_completion(messages, max_tokens=max_tokens, temperature=0.0, grammar=grammar)

    call(None, 1)  # warm up; fills the prefix cache with the prompt
    plain = timed(lambda: call(None, 1), args.repeats)
    print(f"plain call, 1 token: {plain * 1000:.1f} ms (median of {args.repeats})")
    for model in (Color, Interests, Tags):
        schema = model.model_json_schema()
        text = json.dumps(schema)
        compile_s = timed(lambda: LlamaGrammar.from_json_schema(text, verbose=False), args.repeats)
        fresh = timed(lambda: call(LlamaGrammar.from_json_schema(text, verbose=False), 1), args.repeats)
        backend.grammar_for(schema)
        reused = timed(lambda: call(backend.grammar_for(schema), 1), args.repeats)
        n = args.full_repeats
        full_fresh = timed(lambda: call(LlamaGrammar.from_json_schema(text, verbose=False), args.answer_tokens), n)
        full_reused = timed(lambda: call(backend.grammar_for(schema), args.answer_tokens), n)
        full_plain = timed(lambda: call(None, args.answer_tokens), n)
        tokens = {kind: call(g, args.answer_tokens)["usage"]["completion_tokens"]
                  for kind, g in (("plain", None), ("grammar", backend.grammar_for(schema)))}
        per_token = (full_reused / tokens["grammar"] - full_plain / tokens["plain"]) * 1000
        print(
            f"{model.__name__:9s} schema {len(text):4d} chars: schema->grammar {compile_s * 1000:.2f} ms; "
            f"fixed cost per call fresh {(fresh - plain) * 1000:+.1f} ms, reused {(reused - plain) * 1000:+.1f} ms; "
            f"answer of <= {args.answer_tokens} tokens: plain {full_plain:.2f} s ({tokens['plain']} tokens), "
            f"fresh grammar {full_fresh:.2f} s, reused grammar {full_reused:.2f} s ({tokens['grammar']} tokens); "
            f"grammar cost per generated token {per_token:+.1f} ms"
        )


if __name__ == "__main__":
    main()
