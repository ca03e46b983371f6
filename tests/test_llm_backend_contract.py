"""Every registered LLM backend passes the shared contract suite of :mod:`suites.backend`: the scripted fake,
the OpenAI-compatible client against a local HTTP server, the embedded llama.cpp model and the torch engine. A backend
registered without a contract case here fails ``test_every_registered_backend_has_a_contract_case``."""

from __future__ import annotations

import pytest
from llm_fault_server import FaultServer

from recgpt import registry
from recgpt.llm.config import LLMConfig
from suites.backend import BackendContract


def _answer(prompt: str) -> str:
    return '{"color": "black"}' if "color" in prompt.lower() else f"echo: {prompt}"


class TestFakeBackend(BackendContract):
    def config(self):
        return LLMConfig(backend="fake", progress=False, backoff_s=0.0, options={"fake": {"answers": [
            '{"color": "yellow"}']}})

    def failing_prompt(self):
        return "a second call: the script has one answer"


class TestOpenAIBackend(BackendContract):
    @pytest.fixture(autouse=True)
    def server(self):
        with FaultServer(answer=_answer) as server:
            self.url = server.url
            yield server

    def config(self):
        return LLMConfig(backend="openai", progress=False, max_retries=1, backoff_s=0.0,
                         options={"openai": {"base_url": self.url, "timeout_s": 5}})

    def failing_prompt(self):
        return "refused plan=400"


@pytest.mark.llm
class TestLlamaCppBackend(BackendContract):
    def config(self):
        pytest.importorskip("llama_cpp")
        return LLMConfig(progress=False, structured_retries=0, options={"llama-cpp": {"threads": 1, "n_ctx": 256}})

    def failing_prompt(self):
        return "word " * 400  # longer than the 256-token context window


@pytest.mark.llm
class TestTorchBackend(BackendContract):
    def config(self):
        pytest.importorskip("transformers")
        return LLMConfig(backend="torch", progress=False, structured_retries=0,
                         options={"torch": {"threads": 1, "n_ctx": 256, "batch_size": 4}})

    def failing_prompt(self):
        return "word " * 400  # longer than the 256-token context window


CASES = {"fake": TestFakeBackend, "openai": TestOpenAIBackend, "llama-cpp": TestLlamaCppBackend,
         "torch": TestTorchBackend}


def test_every_registered_backend_has_a_contract_case():
    assert set(registry.backends.families()) <= set(CASES), "add a BackendContract case for the new backend"
