"""JSON-schema constrained decoding for the torch engine, one grammar per row, with xgrammar.

Schemas are compiled without free whitespace (``any_whitespace=False``): a weak model allowed to write
whitespace between JSON tokens may pad with it until ``max_tokens`` and the JSON is cut off. Separators are
``", "`` and ``": "`` (``json.dumps``' defaults, the style of the examples in the prompts). Compiled grammars
are kept per :func:`~recgpt.llm.structured.schema_fingerprint` (LRU); a row gets a fresh
``GrammarMatcher`` over the shared compiled grammar. Like the llama-cpp backend, a schema the compiler
rejects gives a warning and the row is decoded freely (the runtime's lenient parsing and validation
still apply).

Rows that would run out of budget inside their JSON are closed in time (closing mode,
:mod:`recgpt.llm.torch_json_closing`).
"""

from __future__ import annotations

import json
import threading
import warnings
from collections import OrderedDict
from typing import Any

import torch

from recgpt.llm.structured import schema_fingerprint
from recgpt.llm.torch_json_closing import JsonCloser

SEPARATORS = (", ", ": ")


class SchemaGrammars:
    """Compiled JSON-schema grammars for one tokenizer. ``vocab_size`` is the model's (its logits' width),
    ``stop_token_ids`` the tokens that end generation."""

    def __init__(self, tokenizer, vocab_size: int, stop_token_ids: frozenset[int], cache_size: int = 64,
                 threads: int = 1):
        import xgrammar

        self._xgr = xgrammar
        self.vocab_size = vocab_size
        self.info = xgrammar.TokenizerInfo.from_huggingface(
            tokenizer, vocab_size=vocab_size, stop_token_ids=sorted(stop_token_ids)
        )
        self._compiler = xgrammar.GrammarCompiler(self.info, max_threads=threads)
        self._compiled: OrderedDict[str, Any] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.stop_ids = sorted(stop_token_ids)
        special = set(self.info.special_token_ids) | set(stop_token_ids)
        self.closer = JsonCloser(self.info.decoded_vocab, vocab_size, self.stop_ids, special)
        self.scratch = self.new_bitmask(1)

    def compiled(self, schema: dict[str, Any]):
        """The compiled grammar of ``schema`` (compiled on first use), or None when xgrammar cannot
        compile it (a warning gives xgrammar's reason, once per schema)."""
        key = schema_fingerprint(schema)
        with self._lock:
            if key in self._compiled:
                self._compiled.move_to_end(key)
                return self._compiled[key]
        try:
            grammar = self._compiler.compile_json_schema(
                json.dumps(schema), any_whitespace=False, separators=SEPARATORS, strict_mode=True
            )
        except (RuntimeError, ValueError, TypeError) as exc:
            warnings.warn(f"xgrammar cannot constrain decoding to JSON schema {key} ({exc}); "
                          "decoding without a grammar", stacklevel=2)
            grammar = None
        with self._lock:
            self._compiled[key] = grammar
            if len(self._compiled) > self._cache_size:
                self._compiled.popitem(last=False)
        return grammar

    def matcher(self, schema: dict[str, Any]):
        """A new matcher for one row under ``schema`` (None when the schema cannot be compiled)."""
        compiled = self.compiled(schema)
        return None if compiled is None else self._xgr.GrammarMatcher(compiled)

    def new_bitmask(self, rows: int) -> torch.Tensor:
        """An int32 (rows, ceil(vocab/32)) bitmask buffer."""
        return self._xgr.allocate_token_bitmask(rows, self.vocab_size)

    def constrain(self, logits: torch.Tensor, matchers: list, rows: list[int], bitmask: torch.Tensor) -> None:
        """Set to -inf, in place, the logits (B, V) of ``rows`` that ``matchers`` (same order) forbid."""
        for matcher, row in zip(matchers, rows):
            matcher.fill_next_token_bitmask(bitmask, row)
        self._xgr.apply_token_bitmask_inplace(logits, bitmask[: logits.shape[0]], indices=rows)
