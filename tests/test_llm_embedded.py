"""The real embedded model (SmolLM2 through llama-cpp-python) and the real llama.cpp OpenAI server."""

from __future__ import annotations

import json

import pytest

from recgpt.llm.llama_cpp_backend import LlamaCppBackend
from recgpt.llm.local_server import LlamaServer
from recgpt.llm.runtime import LLMConfig, LLMRequest, LLMRuntime
from recgpt.llm.smoke import Color

pytestmark = pytest.mark.llm
pytest.importorskip("llama_cpp")


def test_embedded_model_answers_valid_json_under_a_schema(tmp_path):
    config = LLMConfig(options={"llama-cpp": {"threads": 1, "n_ctx": 512}}, progress=False)
    with LLMRuntime(config, cache_path=tmp_path / "c.sqlite") as runtime:
        result = runtime.run(LLMRequest("banana", "smoke", {"item": "a ripe banana"}, schema=Color, max_tokens=24))
        assert result.ok, result.error
        assert isinstance(result.value, Color) and json.loads(result.text)["color"] == result.value.color
        assert result.attempts == 1 and 0 < result.completion_tokens <= 24 and result.prompt_tokens > 20
        assert runtime.run(LLMRequest("again", "smoke", {"item": "a ripe banana"}, schema=Color, max_tokens=24)).cached


def test_greedy_first_grammar_sampling_gives_the_stock_answer():
    schema = {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "string"}}},
              "required": ["items"]}
    messages = [{"role": "user", "content": "List three office supplies as JSON."}]
    answers = []
    for fast in (False, True):
        backend = LlamaCppBackend(n_ctx=256, threads=1, fast_grammar=fast)
        out = backend.llm.create_chat_completion(messages, max_tokens=20, temperature=0.0,
                                                 grammar=backend.grammar_for(schema))
        answers.append(out["choices"][0]["message"]["content"])
        backend.close()
    assert answers[0] == answers[1] and answers[0].lstrip().startswith("{")


def test_grammars_are_compiled_once_per_schema():
    backend = LlamaCppBackend(n_ctx=256, threads=1)
    schema = Color.model_json_schema()
    first = backend.grammar_for(schema)
    assert backend.grammar_for(dict(schema)) is first
    assert backend.grammar_for({"type": "object", "properties": {"n": {"type": "integer"}}}) is not first
    with pytest.warns(UserWarning, match="cannot constrain decoding"):
        assert backend.grammar_for({"not": {"type": "string"}}) is None


@pytest.fixture(scope="module")
def llama_server():
    """A real ``python -m llama_cpp.server`` with SmolLM2 on a free loopback port, stopped after the tests."""
    pytest.importorskip("sse_starlette", reason="llama-cpp-python[server] extra not installed")
    with LlamaServer(threads=1, n_ctx=1024, alias="smollm2") as url:
        yield url


def test_openai_backend_against_the_llama_cpp_server(llama_server, tmp_path):
    config = LLMConfig(backend="openai", progress=False, options={
        "openai": {"base_url": llama_server, "max_in_flight": 2, "timeout_s": 60}})
    with LLMRuntime(config, usage_path=tmp_path / "usage.jsonl") as runtime:
        assert runtime.backend.model_id == "smollm2"  # picked from /v1/models
        results = runtime.run_batch([
            LLMRequest("json", "smoke", {"item": "fresh snow"}, schema=Color, max_tokens=24),
            LLMRequest("text", "raw", {"prompt": "Say hello in one word."}, max_tokens=8),
        ])
        assert runtime.backend.json_mode == "json_object_schema"  # the llama.cpp server's dialect
    assert all(r.ok for r in results), [r.error for r in results]
    assert isinstance(results[0].value, Color) and results[0].attempts == 1
    assert results[1].text and 0 < results[1].completion_tokens <= 8
    lines = (tmp_path / "usage.jsonl").read_text().splitlines()
    assert [json.loads(line)["model"] for line in lines] == ["smollm2", "smollm2"]
