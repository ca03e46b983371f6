"""The batch runner: runs prepared calls with retries, repairs, cache and usage log.

For each call not already answered: ask the backend (retrying timeouts, 429 and 5xx with exponential
backoff and jitter), validate the answer against the request's schema (asking again with the validation
error, up to ``structured_retries`` times), commit an accepted answer to the cache at once, and append one
usage line. A call that still fails is recorded with its reason; the batch goes on.

Three ways to ask, by what the backend can do: one call at a time; several calls in flight at once
(``supports_batching``: a server, up to ``max_in_flight``); or groups of up to ``batch_size`` calls in one
``complete_batch`` (an engine that decodes many prompts in one pass). Groups hold prompts of similar length
(the pending calls are sorted by length first) and every answer of a group is committed as soon as the group
returns, so a batch killed halfway keeps every finished group.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recgpt.llm.base import Backend, Completion, DecodingParams, TransientBackendError, as_messages
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

    def result_from_answer(self, call: PreparedCall, ok: bool, text: str, error: str | None, pt: int, ct: int,
                           latency: float, attempts: int, cached: bool = False) -> LLMResult:
        """The result of a call answered in another process (an executor's worker): the value is parsed again
        from the accepted text, as the worker did before accepting it."""
        value = parse_answer(text, call.request.schema) if ok and call.request.schema is not None else None
        return self._result(call, ok, value, text, error, cached, pt, ct, latency, attempts)

    async def execute(self, calls: list[PreparedCall], progress: BatchProgress) -> dict[str, LLMResult]:
        """Run every call (unique cache keys) and return {cache_key: result}; never raises for one call."""
        results: dict[str, LLMResult] = {}
        try:
            if self.backend.batch_size > 1:
                await self._execute_in_groups(calls, progress, results)
            else:
                await self._execute_one_by_one(calls, progress, results)
        finally:
            await self.backend.aclose()
        return results

    async def _execute_one_by_one(self, calls, progress, results) -> None:
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

        await asyncio.gather(*(worker() for _ in range(max(1, min(width, len(calls))))))

    async def _execute_in_groups(self, calls, progress, results) -> None:
        """Groups of up to ``batch_size`` prompts of similar length through ``complete_batch``; a call needing
        another try (a repair, a transient failure) joins a later group."""
        pending = [CallState(call, call.rendered.text) for call in calls]
        schema_of = {id(c): (c.schema if self.backend.supports_json_schema else None) for c in calls}
        while pending:
            pending.sort(key=lambda state: len(state.prompt_text))
            group, pending = pending[: self.backend.batch_size], pending[self.backend.batch_size:]
            outcomes = await asyncio.to_thread(
                self.backend.complete_batch,
                [as_messages(state.prompt_text, self.config.system_prompt) for state in group],
                [state.call.params for state in group], [schema_of[id(state.call)] for state in group])
            waits = []
            for state, outcome in zip(group, outcomes):
                if state.take(outcome, self.config):
                    result = self._finish(state)
                    results[state.call.cache_key] = result
                    progress.advance(result)
                else:
                    pending.append(state)
                    if isinstance(outcome, TransientBackendError):
                        waits.append(self._backoff(state.transient - 1, outcome))
            if waits:
                await asyncio.sleep(max(waits))

    async def run_call(self, call: PreparedCall) -> LLMResult:
        """One call, asked one attempt at a time (with backoff between transient failures)."""
        state = CallState(call, call.rendered.text)
        schema = call.schema if self.backend.supports_json_schema else None
        while True:
            messages = as_messages(state.prompt_text, self.config.system_prompt)
            try:
                outcome: Completion | Exception = await self.backend.acomplete(messages, call.params, schema)
            except Exception as exc:  # recorded, never raised: one bad call must not stop a batch
                outcome = exc
            if state.take(outcome, self.config):
                return self._finish(state)
            if isinstance(outcome, TransientBackendError):
                await asyncio.sleep(self._backoff(state.transient - 1, outcome))

    def _backoff(self, attempt: int, exc: TransientBackendError) -> float:
        """Exponential backoff with jitter for the ``attempt``-th retry, at least the server's Retry-After."""
        delay = min(self.config.backoff_max_s, self.config.backoff_s * 2**attempt) * (0.5 + random.random() / 2)
        if exc.retry_after_s is not None:
            delay = max(delay, min(exc.retry_after_s, self.config.backoff_max_s))
        return delay

    def _finish(self, state: "CallState") -> LLMResult:
        """Commit an accepted answer to the cache at once, log the usage line, return the result."""
        latency = time.perf_counter() - state.start
        ok = state.error is None
        if ok and self.cache is not None:
            self.cache.put(state.call.cache_key, state.text, state.pt, state.ct, latency)
        result = self._result(state.call, ok, state.value, state.text, state.error, False, state.pt, state.ct,
                              latency, state.attempts)
        self.usage.write(result, self.backend.name, self.backend.model_id)
        return result

    def _result(self, call, ok, value, text, error, cached, pt, ct, latency, attempts) -> LLMResult:
        return LLMResult(
            key=call.request.key, ok=ok, value=value, text=text, error=error, cached=cached,
            prompt_tokens=pt, completion_tokens=ct, latency_s=latency, task=call.rendered.task,
            version=call.rendered.version, attempts=attempts,
        )


@dataclass
class CallState:
    """One call on its way to an accepted answer: the prompt to send next (the rendered prompt, or it plus a
    repair note), token counts and attempts so far, and how the last answer went."""

    call: PreparedCall
    prompt_text: str
    start: float = field(default_factory=time.perf_counter)
    pt: int = 0
    ct: int = 0
    attempts: int = 0
    transient: int = 0  # transient failures since the last answer
    repairs: int = 0
    text: str = ""
    value: Any = None
    error: str | None = None

    def take(self, outcome: "Completion | Exception", config: "LLMConfig") -> bool:
        """Record one backend outcome; True when the call is finished (accepted, or failed for good)."""
        self.attempts += 1
        if isinstance(outcome, TransientBackendError):
            self.transient += 1
            if self.transient > config.max_retries:
                self.error = f"TransientBackendError: gave up after {self.transient} tries: {outcome}"
                return True
            return False
        if isinstance(outcome, Exception):
            self.error = f"{type(outcome).__name__}: {outcome}"
            return True
        self.transient = 0
        self.pt += outcome.prompt_tokens
        self.ct += outcome.completion_tokens
        self.text = outcome.text
        schema = self.call.request.schema
        if schema is None:
            self.error = None
            return True
        try:
            self.value, self.error = parse_answer(outcome.text, schema), None
            return True
        except StructuredOutputError as exc:
            self.error = f"invalid answer: {exc}"
            if self.repairs >= config.structured_retries:
                return True
            self.repairs += 1
            self.prompt_text = self.call.rendered.text + repair_note(str(exc), self.call.schema or {})
            return False
