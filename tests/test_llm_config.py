"""The llm block: a registered backend, that backend's own strict options, the runtime's shared settings."""

from __future__ import annotations

import pytest

from recgpt.config import ConfigError
from recgpt.llm.config import LLMConfig
from recgpt.llm.llama_cpp_backend import LlamaCppOptions
from recgpt.llm.openai_backend import OpenAIOptions


def test_each_backend_reads_its_own_options_block():
    config = LLMConfig.from_dict({"backend": "openai", "options": {
        "openai": {"base_url": "http://localhost:8000/v1", "max_in_flight": 8},
        "llama-cpp": {"threads": 1},
    }})
    options = config.backend_options()
    assert isinstance(options, OpenAIOptions) and options.max_in_flight == 8 and options.timeout_s == 120.0
    assert config.backend_options("llama-cpp") == LlamaCppOptions(threads=1)
    assert LLMConfig().backend_options() == LlamaCppOptions()  # defaults where no block is given


def test_options_are_strict_per_backend():
    with pytest.raises(ConfigError, match="options.openai.base_ur: unknown key"):
        LLMConfig.from_dict({"backend": "openai", "options": {"openai": {"base_ur": "http://x"}}})
    with pytest.raises(ConfigError, match="options.vllm: unknown LLM backend 'vllm'"):
        LLMConfig.from_dict({"options": {"vllm": {}}})
    with pytest.raises(ConfigError, match="threads: unknown key"):
        LLMConfig(backend="openai").with_options(threads=2)  # --threads means nothing to a server


def test_flat_keys_of_version_0_1_still_load_with_a_warning_naming_the_new_place():
    with pytest.warns(FutureWarning, match="llm.threads is deprecated.*llm.options.llama-cpp.threads"):
        config = LLMConfig.from_dict({"threads": 2, "n_ctx": 2048})
    assert config.backend_options() == LlamaCppOptions(threads=2, n_ctx=2048)
    with pytest.warns(FutureWarning, match="llm.model is deprecated.*llm.options.openai.model"):
        config = LLMConfig.from_dict({"backend": "openai", "model": "qwen", "base_url": "http://x/v1"})
    assert (config.backend_options().model, config.backend_options().base_url) == ("qwen", "http://x/v1")


def test_a_version_can_be_pinned_and_a_family_means_its_latest():
    assert LLMConfig(backend="llama-cpp.v1").backend_options() == LlamaCppOptions()
    with pytest.raises(ConfigError, match="unknown LLM backend 'llama-cpp.v9'; registered: fake.v1, llama-cpp.v1"):
        LLMConfig.from_dict({"backend": "llama-cpp.v9"})
