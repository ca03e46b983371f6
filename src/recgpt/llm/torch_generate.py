"""Batched generation of the torch engine: many chat requests in, one answer or one error per request out.

    generator = BatchGenerator(load_model(resolve_source(None)), batch_size=32)
    outputs = generator.generate([GenerationRow(messages, max_tokens=64, json_schema=schema), ...])
    # outputs[i] is a Generated (text, prompt_tokens, completion_tokens, finish_reason) or a BackendError

Rows are sorted by prompt length and cut into batches of ``batch_size`` (little padding). A batch is
left-padded and prefilled at once, then decoded step by step (:mod:`recgpt.llm.torch_decode`). A row whose
prompt does not fit ``n_ctx`` fails alone; a batch that runs out of memory is split in halves and retried.
A prompt that starts like one prefilled before reuses its keys and values (:mod:`recgpt.llm.torch_prefix_cache`).
"""

from __future__ import annotations

import gc
import threading
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from recgpt.llm.base import BackendError, ChatMessage
from recgpt.llm.torch_grammar import SchemaGrammars
from recgpt.llm.torch_model import LoadedModel
from recgpt.llm.torch_prefix_cache import PrefixStore


@dataclass(frozen=True)
class GenerationRow:
    """One request: chat ``messages`` ({"role", "content"} dicts), answer budget ``max_tokens``,
    ``temperature`` (0 = greedy) and ``seed`` (sampling only), optional ``json_schema`` to decode under."""

    messages: list[ChatMessage]
    max_tokens: int
    temperature: float = 0.0
    seed: int | None = 0
    json_schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class Generated:
    """One answer. ``finish_reason``: "stop" (end of sequence) or "length" (``max_tokens`` reached)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: Literal["stop", "length"]


@dataclass
class PreparedRow:
    """A row after tokenization: where it came from (``index``), its prompt token ids, its budget capped
    to the context window, its grammar matcher (None: free text) and its closing-mode state (whether it
    is closing its JSON, and the tokens that would take when last computed)."""

    index: int
    row: GenerationRow
    prompt_ids: list[int]
    max_tokens: int
    matcher: Any = None
    closing: bool = False
    closing_need: int | None = None


@dataclass
class GenerationStats:
    """Seconds and tokens accumulated over the generator's life (for benchmarks)."""

    prefill_s: float = 0.0
    decode_s: float = 0.0
    grammar_s: float = 0.0
    prompt_tokens: int = 0
    reused_tokens: int = 0  # of prompt_tokens, taken from the prefix store instead of computed
    generated_tokens: int = 0
    decode_steps: int = 0
    batches: int = 0
    oom_splits: int = 0
    compactions: int = 0
    extra: dict[str, float] = field(default_factory=dict)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for allocation failures: MemoryError, torch.OutOfMemoryError, or the CPU allocator's error."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("out of memory" in text.lower() or "can't allocate memory" in text)


class BatchGenerator:
    """Generates answers for lists of :class:`GenerationRow` with one loaded model (thread-safe: one
    ``generate`` at a time)."""

    def __init__(self, loaded: LoadedModel, batch_size: int = 32, grammars: SchemaGrammars | None = None,
                 prefix_cache_mb: float = 1024):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, not {batch_size}")
        if prefix_cache_mb < 0:
            raise ValueError(f"prefix_cache_mb must be >= 0, not {prefix_cache_mb}")
        self.loaded = loaded
        self.batch_size = batch_size
        self.prefixes = PrefixStore(int(prefix_cache_mb * 2**20)) if prefix_cache_mb else None
        self._grammars = grammars
        self.stats = GenerationStats()
        self._lock = threading.Lock()

    @property
    def grammars(self) -> SchemaGrammars:
        """The compiled-grammar cache, built on the first constrained row."""
        if self._grammars is None:
            self._grammars = SchemaGrammars(
                self.loaded.tokenizer, self.loaded.model.config.vocab_size, self.loaded.stop_token_ids,
                threads=1,
            )
        return self._grammars

    def generate(self, rows: list[GenerationRow]) -> list[Generated | BackendError]:
        """One entry per row, in order; a failed row gets its :class:`BackendError` (never raised)."""
        from recgpt.llm.torch_decode import decode_batch

        decode = partial(decode_batch, prefixes=self.prefixes)

        outputs: list[Generated | BackendError | None] = [None] * len(rows)
        ready: list[PreparedRow] = []
        for i, row in enumerate(rows):
            try:
                ready.append(self.prepare(i, row))
            except BackendError as exc:
                outputs[i] = exc
        ready.sort(key=lambda p: len(p.prompt_ids))
        with self._lock:
            for start in range(0, len(ready), self.batch_size):
                for index, result in self._run_splitting(ready[start : start + self.batch_size], decode):
                    outputs[index] = result
            self.stats.reused_tokens = self.prefixes.reused_tokens if self.prefixes is not None else 0
        return outputs  # type: ignore[return-value]

    def prepare(self, index: int, row: GenerationRow) -> PreparedRow:
        """Tokenize ``row`` through the chat template and check it fits; raise :class:`BackendError` if not."""
        if not row.messages or not all(isinstance(m, dict) and isinstance(m.get("content"), str)
                                       and isinstance(m.get("role"), str) for m in row.messages):
            raise BackendError("messages must be a non-empty list of {'role': str, 'content': str} dicts")
        if row.max_tokens < 1:
            raise BackendError(f"max_tokens must be >= 1, not {row.max_tokens}")
        if row.temperature < 0:
            raise BackendError(f"temperature must be >= 0, not {row.temperature}")
        tokenizer, n_ctx = self.loaded.tokenizer, self.loaded.n_ctx
        try:
            text = tokenizer.apply_chat_template(row.messages, add_generation_prompt=True, tokenize=False)
        except Exception as exc:  # jinja2 errors of the model's own template (e.g. a role it refuses)
            raise BackendError(f"the chat template rejected the messages: {type(exc).__name__}: {exc}") from exc
        ids = tokenizer.encode(text, add_special_tokens=False)
        if len(ids) >= n_ctx:
            raise BackendError(
                f"prompt of {len(ids)} tokens does not fit the context window of {n_ctx} tokens (n_ctx) "
                "with room for at least one answer token"
            )
        matcher = self.grammars.matcher(row.json_schema) if row.json_schema is not None else None
        return PreparedRow(index, row, ids, min(row.max_tokens, n_ctx - len(ids)), matcher)

    def _run_splitting(self, batch: list[PreparedRow], decode) -> list[tuple[int, Generated | BackendError]]:
        """Decode ``batch``; on an allocation failure retry each half, down to single rows."""
        try:
            return decode(self.loaded, batch, self._grammars, self.stats)
        except Exception as exc:
            failure = exc
        gc.collect()  # the failed attempt's tensors
        if not is_out_of_memory(failure):
            reason = f"generation failed for a batch of {len(batch)} rows: {type(failure).__name__}: {failure}"
            return [(p.index, BackendError(reason)) for p in batch]
        if len(batch) == 1:
            p = batch[0]
            return [(p.index, BackendError(
                f"out of memory for one row of {len(p.prompt_ids)} prompt + {p.max_tokens} answer tokens: {failure}"
            ))]
        self.stats.oom_splits += 1
        half = len(batch) // 2
        return self._run_splitting(batch[:half], decode) + self._run_splitting(batch[half:], decode)
