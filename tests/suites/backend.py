"""The contract every registered LLM backend passes, through the runtime as the stages use it.

A test class mixes in :class:`BackendContract` and defines ``config()`` (an LLMConfig choosing the backend,
with whatever its options need, e.g. a server URL) and ``failing_prompt()`` (a prompt this backend cannot
answer: the suite checks that it becomes a failed result with a reason, never an exception).
"""

from __future__ import annotations

import json

import pytest

from recgpt import registry
from recgpt.config import ConfigError, StrictConfig
from recgpt.llm.base import Backend, create_backend
from recgpt.llm.config import LLMConfig
from recgpt.llm.runtime import LLMRequest, LLMRuntime
from recgpt.llm.smoke import Color


class BackendContract:
    def config(self) -> LLMConfig:
        raise NotImplementedError

    def failing_prompt(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def runtime(self, tmp_path):
        with LLMRuntime(self.config(), cache_path=tmp_path / "cache.sqlite", usage_path=tmp_path / "usage.jsonl") as rt:
            yield rt

    def test_it_is_built_from_its_registered_name_and_own_options(self):
        config = self.config()
        backend = create_backend(config)
        try:
            assert isinstance(backend, Backend)
            assert backend.name == registry.backends.resolve(config.backend)
            assert registry.backends.name_of(backend) == backend.name
            assert issubclass(backend.Options, StrictConfig)
            assert isinstance(config.backend_options(), backend.Options)
            assert backend.model_id and backend.model_id == backend.model_id
        finally:
            backend.close()
            backend.close()  # closing twice is harmless

    def test_an_unknown_option_is_an_error_naming_it(self):
        config = self.config()
        family = registry.family_of(config.backend)
        with pytest.raises(ConfigError, match=f"options.{family}.no_such_option: unknown key"):
            LLMConfig.from_dict({**config.model_dump(), "options": {family: {"no_such_option": 1}}})

    def test_a_schema_answer_validates_and_is_cached(self, runtime):
        request = LLMRequest("lemon", "smoke", {"item": "a ripe lemon"}, schema=Color, max_tokens=24)
        result = runtime.run(request)
        assert result.ok, result.error
        assert isinstance(result.value, Color) and json.loads(result.text)["color"] == result.value.color
        assert result.prompt_tokens > 0 and 0 < result.completion_tokens <= 24 and result.attempts >= 1
        again = runtime.run(request)
        assert again.cached and again.value == result.value

    def test_a_call_that_cannot_be_answered_is_a_failed_result_not_an_exception(self, runtime):
        results = runtime.run_batch([
            LLMRequest("good", "smoke", {"item": "coal"}, schema=Color, max_tokens=24),
            LLMRequest("bad", "raw", {"prompt": self.failing_prompt()}, max_tokens=8),
        ])
        assert [r.key for r in results] == ["good", "bad"]
        assert results[0].ok, results[0].error
        assert not results[1].ok and results[1].error and results[1].value is None
