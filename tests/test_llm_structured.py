"""Structured answers, templates and cache keys, with the scripted fake backend."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from recgpt.config import ConfigError
from recgpt.llm.cache import cache_key
from recgpt.llm.prompts import PromptLibrary, TemplateError
from recgpt.llm.runtime import FakeBackend, LLMConfig, LLMRequest, LLMRuntime
from recgpt.llm.structured import StructuredOutputError, loads_lenient, parse_answer


class Tags(BaseModel):
    tags: list[str] = Field(min_length=1)
    reason: str


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"a": 1}', {"a": 1}),
        ('Sure! Here it is:\n```json\n{"a": [1, 2]}\n```\nHope this helps.', {"a": [1, 2]}),
        ('{"a": "line one\nline two\tend"}', {"a": "line one\nline two\tend"}),
        ('{"a": "x", "b": [1, 2,],}', {"a": "x", "b": [1, 2]}),
        ('Answer: {"a": "has } brace"} and {"b": 2}', {"a": "has } brace"}),
        ('[{"a": 1}] trailing words', [{"a": 1}]),
        ('Result: {"a": "say \\"}\\" now\n"} done', {"a": 'say "}" now\n'}),
    ],
)
def test_lenient_json(text, expected):
    assert loads_lenient(text) == expected


@pytest.mark.parametrize("text", ["no json here", '{"a": [1, 2', '{"a": nope}'])
def test_unreadable_json_is_an_error(text):
    with pytest.raises(StructuredOutputError):
        loads_lenient(text)


def test_validation_error_names_the_field():
    with pytest.raises(StructuredOutputError, match="tags"):
        parse_answer('{"tags": [], "reason": "x"}', Tags)


def test_invalid_answer_is_repaired_with_the_error_in_the_prompt():
    fake = FakeBackend(['{"tags": "pens"}', 'Here: {"tags": ["pens"], "reason": "bought pens"}'])
    runtime = LLMRuntime(LLMConfig(backend="fake", progress=False), backend=fake)
    result = runtime.run(LLMRequest("u1", "smoke", {"item": "pen"}, schema=Tags))
    assert result.ok and result.value == Tags(tags=["pens"], reason="bought pens")
    assert fake.calls == 2 and result.attempts == 2
    assert "previous answer was rejected" in fake.prompts[1] and "tags" in fake.prompts[1]
    assert fake.prompts[1].startswith(fake.prompts[0])


def test_repairs_stop_at_the_limit_and_the_failure_is_recorded():
    fake = FakeBackend(lambda prompt: "I cannot answer in JSON.")
    runtime = LLMRuntime(LLMConfig(backend="fake", structured_retries=2, progress=False), backend=fake)
    result = runtime.run(LLMRequest("u1", "smoke", {"item": "pen"}, schema=Tags))
    assert not result.ok and result.value is None
    assert "no JSON object" in result.error and fake.calls == 3
    assert result.text == "I cannot answer in JSON."


def test_cache_key_changes_with_every_input():
    base = dict(backend="llama-cpp", model="m", task="t", version="v1", prompt="p",
                params={"max_tokens": 5, "temperature": 0.0, "seed": 0}, schema="none", system_prompt=None)
    reference = cache_key(**base)
    assert cache_key(**base) == reference
    variants = [("backend", "openai"), ("model", "m2"), ("task", "u"), ("version", "v2"), ("prompt", "p "),
                ("params", {"max_tokens": 6, "temperature": 0.0, "seed": 0}), ("schema", "abc"),
                ("system_prompt", "be brief")]
    keys = {cache_key(**{**base, name: value}) for name, value in variants}
    assert reference not in keys and len(keys) == len(variants)


def test_rerun_hits_the_cache_and_a_new_template_version_misses(tmp_path):
    root = tmp_path / "templates"
    (root / "greet").mkdir(parents=True)
    (root / "greet" / "v1.j2").write_text("Say hi to {{ name }}.")
    config = LLMConfig(backend="fake", template_dirs=[str(root)], progress=False)
    fake = FakeBackend(lambda prompt: f"answer to {prompt}")
    runtime = LLMRuntime(config, cache_path=tmp_path / "cache.sqlite", backend=fake)
    requests = [LLMRequest(f"k{i}", "greet", {"name": f"n{i}"}) for i in range(3)]
    first = runtime.run_batch(requests)
    assert [r.text for r in first] == [f"answer to Say hi to n{i}." for i in range(3)] and fake.calls == 3
    again = runtime.run_batch(requests)
    assert all(r.cached for r in again) and fake.calls == 3
    (root / "greet" / "v2.j2").write_text("Say hello to {{ name }}.")
    runtime2 = LLMRuntime(config, cache_path=tmp_path / "cache.sqlite", backend=fake)
    newer = runtime2.run_batch(requests)
    assert [r.version for r in newer] == ["v2"] * 3 and not any(r.cached for r in newer) and fake.calls == 6
    pinned = runtime2.run_batch([LLMRequest("k0", "greet", {"name": "n0"}, version="v1")])
    assert pinned[0].cached and pinned[0].version == "v1"


def test_templates_are_strict_and_versioned(tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "v1.j2").write_text("one {{ x }}")
    (tmp_path / "t" / "v10.j2").write_text("ten {{ x }} {{ y }}")
    library = PromptLibrary([tmp_path])
    assert library.render("t", {"x": 1, "y": 2}).text == "ten 1 2"
    assert library.render("t", {"x": 1}, version="v1").version == "v1"
    with pytest.raises(TemplateError, match="v10.j2.*'y' is undefined"):
        library.render("t", {"x": 1})
    with pytest.raises(TemplateError, match="no version v3"):
        library.render("t", {"x": 1}, version=3)
    with pytest.raises(TemplateError, match="no template for task 'missing'"):
        library.render("missing", {})


def test_a_render_error_fails_that_request_only():
    fake = FakeBackend(lambda prompt: '{"color": "red"}')
    runtime = LLMRuntime(LLMConfig(backend="fake", progress=False), backend=fake)
    results = runtime.run_batch([LLMRequest("a", "smoke", {"item": "x"}), LLMRequest("b", "smoke", {}),
                                 LLMRequest("c", "smoke", {"item": "y"})])
    assert [r.ok for r in results] == [True, False, True] and "item" in results[1].error


def test_config_rejects_unknown_keys_and_backends():
    with pytest.raises(ConfigError, match="tempature: unknown key"):
        LLMConfig.from_dict({"tempature": 0.2})
    with pytest.raises(ConfigError, match="unknown LLM backend 'gpt'; registered: fake.v1, llama-cpp.v1"):
        LLMConfig.from_dict({"backend": "gpt"})
