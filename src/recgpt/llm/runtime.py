"""The LLM runtime every stage calls: templates in, validated answers out, cached and logged.

    runtime = LLMRuntime(LLMConfig(), cache_path=run.llm_cache, usage_path=run.llm_usage)
    results = runtime.run_batch([LLMRequest("user 42", "interests", {...}, schema=Interests)])

``run_batch`` returns one :class:`LLMResult` per request, in order, and never raises for one bad item.
Answers already in the cache cost nothing (the backend is not even loaded when every answer is cached);
an interrupted batch resumes with only the missing calls. The calls the cache cannot answer go to the
runtime's executor (:mod:`recgpt.executors`): this process by default, or the workers of a Ray cluster.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from recgpt.executors.base import Executor
from recgpt.executors.local import LocalExecutor
from recgpt.llm.base import Backend, DecodingParams, create_backend
from recgpt.llm.config import LLMConfig
from recgpt.llm.batch import BatchProgress, BatchRunner, PreparedCall, UsageLog
from recgpt.llm.cache import AnswerCache, cache_key
from recgpt.llm.fake import FakeBackend
from recgpt.llm.prompts import PromptLibrary
from recgpt.llm.records import LLMRequest, LLMResult
from recgpt.llm.structured import json_schema_for, model_fingerprint
from recgpt.progress import reporter, silent

__all__ = ["LLMConfig", "LLMRequest", "LLMResult", "LLMRuntime", "FakeBackend"]


class LLMRuntime:
    """Renders templates, calls the backend through the cache, validates answers, logs usage."""

    def __init__(
        self,
        config: LLMConfig | None = None,
        cache_path: str | Path | None = None,
        usage_path: str | Path | None = None,
        backend: Backend | None = None,
        executor: Executor | None = None,
    ):
        self.config = config or LLMConfig()
        self.executor = executor or LocalExecutor()
        self.prompts = PromptLibrary(self.config.template_dirs)
        self.cache = AnswerCache(cache_path) if cache_path else None
        self.usage = UsageLog(usage_path)
        self._backend = backend

    @property
    def backend(self) -> Backend:
        """The backend, built from the configuration on first use (cheap: models load on first call)."""
        if self._backend is None:
            self._backend = create_backend(self.config)
        return self._backend

    def render(self, task: str, variables: dict[str, Any], version: str | None = None) -> str:
        return self.prompts.render(task, variables, version).text

    def run(self, request: LLMRequest) -> LLMResult:
        return self.run_batch([request], progress=False)[0]

    def run_batch(
        self, requests: list[LLMRequest], description: str = "", progress: bool | None = None
    ) -> list[LLMResult]:
        """One result per request, in order. Rendering errors become failed results, like backend errors."""
        if not requests:
            return []
        start = time.perf_counter()
        backend = self.backend  # a configuration error (no model, no server) raises here, not per item
        results: list[LLMResult | None] = [None] * len(requests)
        prepared: dict[int, PreparedCall] = {}
        for i, request in enumerate(requests):
            try:
                prepared[i] = self._prepare(request)
            except Exception as exc:
                results[i] = LLMResult(request.key, False, None, "", f"{type(exc).__name__}: {exc}", False,
                                       0, 0, 0.0, request.task, request.version or "", 0)
                self.usage.write(results[i], backend.name, backend.model_id)
        if not prepared:
            return results  # type: ignore[return-value]
        hits = self.cache.get_many([c.cache_key for c in prepared.values()]) if self.cache else {}
        runner = BatchRunner(backend, self.config, self.cache, self.usage)
        to_run: dict[str, PreparedCall] = {}
        lookup_s = (time.perf_counter() - start) / max(1, len(requests))
        for i, call in prepared.items():
            hit = hits.get(call.cache_key)
            result = runner.result_from_cache(call, hit, lookup_s) if hit else None
            if result is not None:
                results[i] = result
            else:
                to_run.setdefault(call.cache_key, call)
        self.usage.write_many([results[i] for i in prepared if results[i] is not None], backend.name, backend.model_id)
        if to_run:
            show = self.config.progress if progress is None else progress
            self._execute(runner, to_run, prepared, results, description, show)
        return results  # type: ignore[return-value]

    def _execute(self, runner: BatchRunner, to_run: dict[str, PreparedCall], prepared: dict[int, PreparedCall],
                 results: list[LLMResult | None], description: str, show: bool) -> None:
        """Run the calls not answered from the cache and fill their slots in ``results``."""
        bar = BatchProgress(len(results), description, reporter(None) if show else silent)
        for result in results:
            if result is not None:
                bar.advance(result)
        fresh = self.executor.run_calls(list(to_run.values()), runner, bar)
        for i, call in prepared.items():
            if results[i] is None:
                done = fresh[call.cache_key]
                if to_run[call.cache_key] is not call:  # a duplicate prompt in this batch: share the answer
                    done = dataclasses.replace(done, key=call.request.key, cached=done.ok, attempts=0)
                    self.usage.write(done, runner.backend.name, runner.backend.model_id)
                    bar.advance(done)
                results[i] = done

    def _prepare(self, request: LLMRequest) -> PreparedCall:
        rendered = self.prompts.render(request.task, request.variables, request.version)
        schema = json_schema_for(request.schema) if request.schema is not None else None
        params = DecodingParams(request.max_tokens, self.config.temperature, self.config.seed)
        key = cache_key(
            backend=self.backend.name, model=self.backend.model_id, task=rendered.task, version=rendered.version,
            prompt=rendered.text,
            params=params.as_dict(), schema=model_fingerprint(request.schema) if request.schema else "none",
            system_prompt=self.config.system_prompt,
        )
        return PreparedCall(request, rendered, schema, params, key)

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
        self.executor.close()
        if self.cache is not None:
            self.cache.close()
        self.usage.close()

    def __enter__(self) -> "LLMRuntime":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

