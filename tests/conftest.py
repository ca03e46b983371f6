"""Fixtures shared by every test module: paths of the bundled data and examples, the planted data set with a
known right answer, and a scripted LLM runtime."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AMAZON = ROOT / "data" / "amazon-office"
TAOBAO = ROOT / "data" / "taobao-userbehavior-sample"
EXAMPLE_MAPPING = ROOT / "examples" / "custom" / "mapping.yaml"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def planted():
    """Four clusters of ten items, twelve users each; see :mod:`recgpt.retrieval.synthetic`."""
    from recgpt.retrieval.synthetic import planted_dataset

    return planted_dataset()


@pytest.fixture(scope="session")
def amazon():
    """The bundled Amazon Office data set (2,420 items, 4,905 users), loaded once per session."""
    from recgpt.data.loaders import load_source

    return load_source("amazon-office", AMAZON)


@pytest.fixture
def fake_runtime(tmp_path):
    """``fake_runtime(script)``: an LLMRuntime over a scripted FakeBackend, cache and usage in tmp_path."""
    from recgpt.llm.config import LLMConfig
    from recgpt.llm.fake import FakeBackend
    from recgpt.llm.runtime import LLMRuntime

    made = []

    def make(script, **config):
        runtime = LLMRuntime(LLMConfig(progress=False, **config), cache_path=tmp_path / "cache.sqlite",
                             usage_path=tmp_path / "usage.jsonl", backend=FakeBackend(script))
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        runtime.close()
