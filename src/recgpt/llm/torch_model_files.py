"""Model files of the torch engine: identities (content hashes) and the converted-GGUF cache.

Loading a GGUF into transformers dequantizes every tensor and rebuilds the tokenizer from the vocabulary,
about 20 s for SmolLM2-135M. :func:`converted_gguf_folder` does it once and keeps the result as a plain
Hugging Face folder (fp32 safetensors, so both dtypes load exactly what was dequantized, plus the tokenizer
with llama.cpp's splitting and chat template) under ``<cache_dir>/<gguf stem>-<first 16 hex of its
sha256>``; later loads read that folder in about a second. The key is the file's content hash (hashing
the 98 MB SmolLM2 file takes under 0.1 s), so a changed file is never served stale. The folder is written
under a temporary name and renamed, so a killed conversion leaves no half-written cache behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from recgpt.llm.base import BackendError

#: Files above this size are identified by size, mtime and their first and last ``HASH_EDGE_BYTES`` bytes
#: instead of their whole content (hashing a 15 GB checkpoint on every load would take a minute).
FULL_HASH_LIMIT = 1 << 30
HASH_EDGE_BYTES = 16 << 20
CONVERSION_MARKER = "recgpt-conversion.json"


def default_cache_dir() -> Path:
    """``$RECGPT_CACHE/models`` when the variable is set, else ``~/.cache/recgpt/models``."""
    root = os.environ.get("RECGPT_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "recgpt") / "models"


@lru_cache(maxsize=64)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        if size <= FULL_HASH_LIMIT:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        else:
            digest.update(f"{size}:{mtime_ns}".encode())
            digest.update(handle.read(HASH_EDGE_BYTES))
            handle.seek(size - HASH_EDGE_BYTES)
            digest.update(handle.read(HASH_EDGE_BYTES))
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 (hex) of a file's content (see :data:`FULL_HASH_LIMIT` for very large files); memoized per
    (path, size, mtime)."""
    stat = Path(path).stat()
    return _file_digest(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


def folder_sha256(folder: str | Path) -> str:
    """sha256 over every file of ``folder`` (relative path and content hash, in sorted order)."""
    root = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(root).as_posix()}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()


def adapter_hash(folder: str | Path) -> str:
    """sha256 (hex) over a LoRA adapter folder's files: the key that keeps a tuned model's answers apart
    from its base model's. Raises :class:`BackendError` when the folder holds no ``adapter_config.json``."""
    root = Path(folder)
    if not (root / "adapter_config.json").is_file():
        raise BackendError(f"{root}: not a LoRA adapter folder (no adapter_config.json)")
    return folder_sha256(root)


def converted_gguf_folder(gguf_path: str | Path, cache_dir: str | Path | None = None) -> Path:
    """The Hugging Face folder converted from ``gguf_path``, converting it now when it is not cached."""
    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise BackendError(f"{gguf_path}: GGUF model file not found")
    sha = file_sha256(gguf_path)
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    target = root / f"{gguf_path.stem}-{sha[:16]}"
    if (target / CONVERSION_MARKER).is_file():
        return target
    if target.exists():  # made by hand or by an older version: never trust a folder without the marker
        shutil.rmtree(target)
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=root))
    try:
        _convert(gguf_path, scratch)
        (scratch / CONVERSION_MARKER).write_text(json.dumps({"gguf": str(gguf_path), "sha256": sha}, indent=1))
        scratch.chmod(0o755)  # mkdtemp made it private; the cache is as readable as the GGUF it came from
        try:
            scratch.rename(target)
        except OSError:  # another process finished the same conversion first: keep theirs
            if not (target / CONVERSION_MARKER).is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _convert(gguf_path: Path, out: Path) -> None:
    """Dequantize ``gguf_path`` into ``out`` (fp32 safetensors, config, tokenizer with llama.cpp's splitting)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    from recgpt.llm.torch_tokenizer import gguf_pre_tokenizer_name, match_llama_cpp_splitting

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    folder, name = str(gguf_path.parent), gguf_path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=name, quantization_config=GgufConfig(dequantize=True), dtype=torch.float32,
            local_files_only=True,
        )
    except (ImportError, ValueError, KeyError, OSError, RuntimeError) as exc:
        raise BackendError(f"{gguf_path}: transformers cannot load this GGUF file: {exc}") from exc
    match_llama_cpp_splitting(tokenizer, gguf_pre_tokenizer_name(str(gguf_path)))
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
