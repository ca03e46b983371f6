"""The real embedded model (SmolLM2 through llama-cpp-python) and the real llama.cpp OpenAI server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from recgpt.llm.llama_cpp_backend import LlamaCppBackend, default_model_path
from recgpt.llm.runtime import LLMConfig, LLMRequest, LLMRuntime
from recgpt.llm.smoke import Color

pytestmark = pytest.mark.llm
pytest.importorskip("llama_cpp")


def test_embedded_model_answers_valid_json_under_a_schema(tmp_path):
    config = LLMConfig(threads=1, n_ctx=512, progress=False)
    with LLMRuntime(config, cache_path=tmp_path / "c.sqlite") as runtime:
        result = runtime.run(LLMRequest("banana", "smoke", {"item": "a ripe banana"}, schema=Color, max_tokens=24))
        assert result.ok, result.error
        assert isinstance(result.value, Color) and json.loads(result.text)["color"] == result.value.color
        assert result.attempts == 1 and 0 < result.completion_tokens <= 24 and result.prompt_tokens > 20
        assert runtime.run(LLMRequest("again", "smoke", {"item": "a ripe banana"}, schema=Color, max_tokens=24)).cached


def test_grammars_are_compiled_once_per_schema():
    backend = LlamaCppBackend(n_ctx=256, threads=1)
    schema = Color.model_json_schema()
    first = backend.grammar_for(schema)
    assert backend.grammar_for(dict(schema)) is first
    assert backend.grammar_for({"type": "object", "properties": {"n": {"type": "integer"}}}) is not first


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """A real ``python -m llama_cpp.server`` with SmolLM2 on a free loopback port, stopped after the tests."""
    pytest.importorskip("sse_starlette", reason="llama-cpp-python[server] extra not installed")
    port = _free_port()
    log = (tmp_path_factory.mktemp("llama_server") / "server.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path()), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "1024", "--n_threads", "1", "--model_alias", "smollm2",
         "--verbose", "False"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/models", timeout=1).read()
            break
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                log.seek(0)
                raise RuntimeError(f"llama_cpp.server did not start: {log.read()[-2000:]}")
            time.sleep(0.2)
    yield url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def test_openai_backend_against_the_llama_cpp_server(llama_server, tmp_path):
    config = LLMConfig(backend="openai", base_url=llama_server, max_in_flight=2, timeout_s=60, progress=False)
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
