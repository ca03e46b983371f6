"""Batch runner behavior with the scripted fake backend, and the cache shared by several processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from recgpt.llm.base import BackendError, TransientBackendError
from recgpt.llm.cache import AnswerCache
from recgpt.llm.runtime import FakeBackend, LLMConfig, LLMRequest, LLMRuntime
from recgpt.llm.smoke import Color

SRC = Path(__file__).resolve().parents[1] / "src"


def _config(**overrides) -> LLMConfig:
    return LLMConfig(**{"backend": "fake", "backoff_s": 0.0, "progress": False, **overrides})


def test_transient_errors_are_retried_then_recorded(tmp_path):
    script = [TransientBackendError("HTTP 503"), '{"color": "red"}',
              TransientBackendError("timeout"), TransientBackendError("timeout"), TransientBackendError("timeout"),
              BackendError("HTTP 400: bad request"),
              '{"color": "blue"}']
    fake = FakeBackend(script)
    runtime = LLMRuntime(_config(max_retries=2), usage_path=tmp_path / "usage.jsonl", backend=fake)
    items = ["tomato", "sky", "coal", "sea"]
    results = runtime.run_batch([LLMRequest(i, "smoke", {"item": i}, schema=Color) for i in items])
    assert [r.ok for r in results] == [True, False, False, True]
    assert results[0].value == Color(color="red") and results[0].attempts == 2
    assert "gave up after 3 tries: timeout" in results[1].error and results[1].attempts == 3
    assert "HTTP 400" in results[2].error and results[2].attempts == 1
    assert results[3].value == Color(color="blue")
    lines = [json.loads(line) for line in (tmp_path / "usage.jsonl").read_text().splitlines()]
    assert sorted(line["key"] for line in lines) == sorted(items)
    assert {line["key"]: line["ok"] for line in lines} == {"tomato": True, "sky": False, "coal": False, "sea": True}


def test_duplicate_prompts_in_a_batch_are_asked_once():
    fake = FakeBackend(lambda prompt: '{"color": "yellow"}')
    runtime = LLMRuntime(_config(), backend=fake)
    results = runtime.run_batch([LLMRequest(f"k{i}", "smoke", {"item": "lemon"}, schema=Color) for i in range(3)])
    assert fake.calls == 1 and [r.key for r in results] == ["k0", "k1", "k2"]
    assert [r.cached for r in results] == [False, True, True] and all(r.value.color == "yellow" for r in results)


def test_token_counts_add_up_over_repairs(tmp_path):
    fake = FakeBackend(["no json", '{"color": "green"}'])
    runtime = LLMRuntime(_config(), cache_path=tmp_path / "c.sqlite", backend=fake)
    result = runtime.run(LLMRequest("k", "smoke", {"item": "grass"}, schema=Color))
    assert result.completion_tokens == 2 + 2 and result.prompt_tokens == len(fake.prompts[0].split()) + len(
        fake.prompts[1].split())
    hit = runtime.run(LLMRequest("k", "smoke", {"item": "grass"}, schema=Color))
    assert hit.cached and hit.completion_tokens == 4 and hit.text == '{"color": "green"}'


_WRITER = """
import sys
from recgpt.llm.cache import AnswerCache
cache = AnswerCache(sys.argv[1])
for i in range(300):
    cache.put(f"{sys.argv[2]}-{i}", "text " * 20, 10, 20, 0.1)
    assert cache.get(f"{sys.argv[2]}-{i}") is not None
"""


def test_several_processes_share_one_cache(tmp_path):
    path = tmp_path / "shared.sqlite"
    AnswerCache(path).close()
    env = {"PYTHONPATH": str(SRC)}
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), name], env=env, stderr=subprocess.PIPE)
               for name in ("a", "b", "c")]
    for writer in writers:
        assert writer.wait(timeout=60) == 0, writer.stderr.read().decode()
    cache = AnswerCache(path)
    assert len(cache) == 900 and cache.get("b-299").completion_tokens == 20
    assert len(cache.get_many([f"a-{i}" for i in range(700)])) == 300


def test_cli_renders_a_template_and_prints_answer_tokens_and_latency(tmp_path):
    from typer.testing import CliRunner

    from recgpt.cli.main import app

    config = tmp_path / "llm.yaml"
    config.write_text('llm:\n  backend: fake\n  options:\n    fake: {answers: [\'{"color": "red"}\', "plain words"]}\n')
    vars_file = tmp_path / "vars.json"
    vars_file.write_text('{"item": "tomato"}')
    runner = CliRunner()
    out = runner.invoke(app, ["llm", "--config", str(config), "--task", "smoke", "--vars", str(vars_file),
                              "--schema", "recgpt.llm.smoke:Color"])
    assert out.exit_code == 0, out.output
    assert '{"color": "red"}' in out.output and "[fake smoke v1] ok" in out.output and "answer 2 tokens" in out.output
    bad = runner.invoke(app, ["llm", "--config", str(config), "--task", "smoke", "--vars", "{}"])
    assert bad.exit_code == 1 and "'item' is undefined" in bad.output
    neither = runner.invoke(app, ["llm", "--config", str(config)])
    assert neither.exit_code != 0 and "exactly one of --task or --prompt" in neither.output


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs."""


def test_a_batching_backend_gets_groups_of_similar_length_and_repairs_in_later_groups(tmp_path):
    def answer(prompt: str) -> str:
        if "rejected" in prompt:  # the repair of the broken answer below
            return '{"color": "grey"}'
        return "not json" if "stone" in prompt else '{"color": "green"}'

    fake = FakeBackend(answer, batch_size=3)
    runtime = LLMRuntime(_config(), usage_path=tmp_path / "usage.jsonl", backend=fake)
    items = ["leaf", "a long name of a tree leaf in spring", "stone", "moss", "a very long lime green thing", "frog"]
    results = runtime.run_batch([LLMRequest(i, "smoke", {"item": i}, schema=Color) for i in items])
    assert [r.key for r in results] == items and all(r.ok for r in results)
    assert results[2].value == Color(color="grey") and results[2].attempts == 2
    assert fake.batches == [3, 3, 1]  # two full groups, then the repair alone
    first = [p for p in fake.prompts[:3]]
    assert all("long" not in p for p in first), "the shortest prompts go together"


def test_a_killed_grouped_batch_keeps_every_finished_group(tmp_path):
    calls = []

    def answer(prompt: str) -> str:
        calls.append(prompt)
        if len(calls) == 5:
            raise Killed
        return '{"color": "blue"}'

    requests = [LLMRequest(f"k{i}", "smoke", {"item": f"item {i:02d}"}, schema=Color) for i in range(8)]
    runtime = LLMRuntime(_config(), cache_path=tmp_path / "c.sqlite", backend=FakeBackend(answer, batch_size=2))
    try:
        runtime.run_batch(requests)
    except Killed:
        pass
    runtime.close()
    again = FakeBackend(lambda prompt: '{"color": "blue"}', batch_size=2)
    results = LLMRuntime(_config(), cache_path=tmp_path / "c.sqlite", backend=again).run_batch(requests)
    assert all(r.ok for r in results) and sum(r.cached for r in results) == 4  # two groups were committed
    assert again.calls == 4
