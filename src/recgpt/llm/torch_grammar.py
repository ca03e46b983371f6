"""JSON-schema constrained decoding for the torch engine, one grammar per row, with xgrammar.

Schemas are compiled without free whitespace (``any_whitespace=False``): a weak model allowed to write
whitespace between JSON tokens may pad with it until ``max_tokens`` and the JSON is cut off. Separators are
``", "`` and ``": "`` (``json.dumps``' defaults, the style of the examples in the prompts). Compiled grammars
are kept per :func:`~recgpt.llm.structured.schema_fingerprint` (LRU); a row gets a fresh
``GrammarMatcher`` over the shared compiled grammar. Like the llama-cpp backend, a schema the compiler
rejects gives a warning and the row is decoded freely (the runtime's lenient parsing and validation
still apply).

Answers must end as valid JSON even when the model rambles (a 135M model repeats list items until its
budget runs out). In the last :data:`CLOSING_WINDOW` tokens of a constrained row, each token the model
picks is first tried on a copy of the row's matcher: if the JSON could no longer be closed within the
budget after it (:meth:`SchemaGrammars.closure_length`), the row switches to *closing mode* and from then
on takes :meth:`SchemaGrammars.closing_token`: the end of generation when allowed, else the longest allowed
token made only of ``"``, ``]`` and ``}`` (one that ends a string first), else the longest allowed token
(the text of a required key).
That finishes any open string, object and list; answers that end on their own are left untouched.
"""

from __future__ import annotations

import json
import threading
import warnings
from collections import OrderedDict
from typing import Any

import torch

from recgpt.llm.structured import schema_fingerprint

SEPARATORS = (", ", ": ")
CLOSING_CHARACTERS = frozenset(b'"]}')


#: Constrained rows are checked for room to close their JSON in this many last tokens of their budget.
CLOSING_WINDOW = 48


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
        vocabulary = self.info.decoded_vocab
        self.stop_ids = sorted(stop_token_ids)
        special = set(self.info.special_token_ids) | set(stop_token_ids)
        lengths = [0 if i in special else len(text) for i, text in enumerate(vocabulary)]
        self._lengths = torch.tensor(lengths + [0] * (vocab_size - len(lengths)), dtype=torch.float32)
        padding = [False] * (vocab_size - len(vocabulary))
        closers = [i not in special and bool(text) and set(text) <= CLOSING_CHARACTERS for i, text in enumerate(vocabulary)]
        quoted = [closer and text[:1] == b'"' for closer, text in zip(closers, vocabulary)]
        self._quote_closers = torch.tensor(quoted + padding)  # '"', '"}', '"]}', ...: end a string first
        self._bracket_closers = torch.tensor([c and not q for c, q in zip(closers, quoted)] + padding)
        self._bit = torch.arange(32, dtype=torch.int32)
        self._scratch = self.new_bitmask(1)

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

    def allowed(self, bitmask_row: torch.Tensor) -> torch.Tensor:
        """The (V,) bool vector of tokens a filled bitmask row allows."""
        bits = (bitmask_row.unsqueeze(-1) >> self._bit) & 1
        return bits.flatten()[: self.vocab_size].bool()

    def closing_token(self, allowed: torch.Tensor) -> int:
        """The token among ``allowed`` that closes the JSON fastest: a stop token; else the longest closer
        that starts with ``"`` (inside a string, ``]`` and ``}`` are mere characters); else the longest
        closer of ``]`` and ``}``; else the longest allowed token."""
        for stop in self.stop_ids:
            if allowed[stop]:
                return stop
        for closers in (self._quote_closers, self._bracket_closers):
            pool = allowed & closers
            if bool(pool.any()):
                break
        else:
            pool = allowed
        return int(torch.where(pool, self._lengths, -1.0).argmax())

    def closure_length(self, matcher, limit: int) -> int:
        """Tokens :meth:`closing_token` needs from ``matcher``'s state (left unchanged) until the JSON is
        complete; ``limit + 1`` when that takes more than ``limit``."""
        probe = matcher.fork()
        for used in range(limit + 1):
            probe.fill_next_token_bitmask(self._scratch, 0)
            token = self.closing_token(self.allowed(self._scratch[0]))
            if token in self.stop_ids:
                return used
            probe.accept_token(token)
        return limit + 1

    def leaves_room(self, matcher, token: int, remaining: int) -> bool:
        """True when, after ``token``, the JSON can still be closed within the ``remaining`` tokens of the
        budget (``token`` included)."""
        if token in self.stop_ids:
            return True
        probe = matcher.fork()
        if not probe.accept_token(token):
            return False
        return 1 + self.closure_length(probe, remaining - 1) <= remaining
