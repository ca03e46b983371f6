"""The batch runner: runs prepared calls with bounded concurrency, retries, repairs, cache and usage log.

For each call not already answered: ask the backend (retrying timeouts, 429 and 5xx with exponential
backoff and jitter), validate the answer against the request's schema (asking again with the validation
error, up to ``structured_retries`` times), commit an accepted answer to the cache at once, and append one
usage line. A call that still fails is recorded with its reason; the batch goes on.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recgpt.llm.base import Backend, BackendError, DecodingParams, TransientBackendError, as_messages
from recgpt.llm.cache import AnswerCache, CachedAnswer
from recgpt.llm.prompts import RenderedPrompt
from recgpt.llm.records import LLMRequest, LLMResult
from recgpt.llm.structured import StructuredOutputError, parse_answer, repair_note
from recgpt.progress import ProgressFn

if TYPE_CHECKING:
    from recgpt.llm.config import LLMConfig


@dataclass
class PreparedCall:
    """A request after rendering: its prompt, schema, decoding parameters and cache key."""

    request: LLMRequest
    rendered: RenderedPrompt
    schema: dict[str, Any] | None
    params: DecodingParams
    cache_key: str


class UsageLog:
    """Appends one JSON line per call to ``path`` (a file opened for appending, flushed after each call or
    each bulk of cache hits, so the lines of finished calls survive a kill; threads never interleave)."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self._file = None
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def write(self, result: LLMResult, backend: str, model: str) -> None:
        self.write_many([result], backend, model)

    def write_many(self, results: list[LLMResult], backend: str, model: str) -> None:
        """Append one line per result in a single write (cache hits are logged this way, in bulk)."""
        if self._file is None or not results:
            return
        text = "".join(json.dumps(self._line(r, backend, model), ensure_ascii=False) + "\n" for r in results)
        with self._lock:
            self._file.write(text)
            self._file.flush()

    @staticmethod
    def _line(result: LLMResult, backend: str, model: str) -> dict[str, Any]:
        return {
            "key": result.key, "task": result.task, "version": result.version, "backend": backend,
            "model": model, "ok": result.ok, "cached": result.cached, "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens, "latency_s": round(result.latency_s, 6),
            "attempts": result.attempts, "error": result.error, "time": round(time.time(), 3),
        }


class BatchProgress:
    """Counts one batch's calls, generated tokens/s, cache hits and failures, and reports them to ``progress``."""

    def __init__(self, total: int, description: str, progress: ProgressFn):
        self.total, self.description, self.progress = total, description or "LLM", progress
        self.done = self.failed = self.hits = self.tokens = 0
        self._start = time.perf_counter()

    def advance(self, result: LLMResult, count: int = 1) -> None:
        self.done += count
        self.failed += 0 if result.ok else count
        self.hits += count if result.cached else 0
        self.tokens += 0 if result.cached else result.completion_tokens
        tps = self.tokens / max(time.perf_counter() - self._start, 1e-9)
        self.progress(self.description, self.done, self.total, **{"tok/s": tps, "cached": self.hits,
                                                                    "failed": self.failed})


class BatchRunner:
    """Executes :class:`PreparedCall` lists against one backend; see the module docstring."""

    def __init__(self, backend: Backend, config: "LLMConfig", cache: AnswerCache | None, usage: UsageLog):
        self.backend = backend
        self.config = config
        self.cache = cache
        self.usage = usage

    def result_from_cache(self, call: PreparedCall, hit: CachedAnswer, latency: float) -> LLMResult | None:
        """A result for a cache hit, or None if the stored text no longer validates (then it is re-asked)."""
        value = None
        if call.request.schema is not None:
            try:
                value = parse_answer(hit.text, call.request.schema)
            except StructuredOutputError:
                return None
        return self._result(call, True, value, hit.text, None, True, hit.prompt_tokens, hit.completion_tokens,
                            latency, 0)

    async def execute(self, calls: list[PreparedCall], progress: BatchProgress) -> dict[str, LLMResult]:
        """Run every call (unique cache keys) and return {cache_key: result}; never raises for one call."""
        results: dict[str, LLMResult] = {}
        queue: asyncio.Queue[PreparedCall] = asyncio.Queue()
        for call in calls:
            queue.put_nowait(call)
        width = self.backend.max_in_flight if self.backend.supports_batching else 1

        async def worker() -> None:
            while True:
                try:
                    call = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                result = await self.run_call(call)
                results[call.cache_key] = result
                progress.advance(result)

        try:
            await asyncio.gather(*(worker() for _ in range(max(1, min(width, len(calls))))))
        finally:
            await self.backend.aclose()
        return results

    async def run_call(self, call: PreparedCall) -> LLMResult:
        start = time.perf_counter()
        prompt_text, text, value, error = call.rendered.text, "", None, None
        totals = {"pt": 0, "ct": 0, "attempts": 0}
        for _ in range(self.config.structured_retries + 1):
            try:
                completion = await self._call_with_retries(prompt_text, call, totals)
            except Exception as exc:  # recorded, never raised: one bad call must not stop a batch
                error = f"{type(exc).__name__}: {exc}"
                break
            text = completion.text
            if call.request.schema is None:
                error = None
                break
            try:
                value = parse_answer(text, call.request.schema)
                error = None
                break
            except StructuredOutputError as exc:
                error = f"invalid answer: {exc}"
                prompt_text = call.rendered.text + repair_note(str(exc), call.schema or {})
        latency = time.perf_counter() - start
        ok = error is None
        if ok and self.cache is not None:
            self.cache.put(call.cache_key, text, totals["pt"], totals["ct"], latency)
        result = self._result(call, ok, value, text, error, False, totals["pt"], totals["ct"], latency, totals["attempts"])
        self.usage.write(result, self.backend.name, self.backend.model_id)
        return result

    async def _call_with_retries(self, prompt_text: str, call: PreparedCall, totals: dict[str, int]):
        messages = as_messages(prompt_text, self.config.system_prompt)
        schema = call.schema if self.backend.supports_json_schema else None
        for attempt in range(self.config.max_retries + 1):
            totals["attempts"] += 1
            try:
                completion = await self.backend.acomplete(messages, call.params, schema)
            except TransientBackendError as exc:
                if attempt == self.config.max_retries:
                    raise TransientBackendError(f"gave up after {attempt + 1} tries: {exc}") from exc
                delay = min(self.config.backoff_max_s, self.config.backoff_s * 2**attempt)
                delay *= 0.5 + random.random() / 2
                if exc.retry_after_s is not None:
                    delay = max(delay, min(exc.retry_after_s, self.config.backoff_max_s))
                await asyncio.sleep(delay)
                continue
            totals["pt"] += completion.prompt_tokens
            totals["ct"] += completion.completion_tokens
            return completion
        raise BackendError("max_retries must be >= 0")  # unreachable for valid configs

    def _result(self, call, ok, value, text, error, cached, pt, ct, latency, attempts) -> LLMResult:
        return LLMResult(
            key=call.request.key, ok=ok, value=value, text=text, error=error, cached=cached,
            prompt_tokens=pt, completion_tokens=ct, latency_s=latency, task=call.rendered.task,
            version=call.rendered.version, attempts=attempts,
        )
