"""A start-up cache of text vectors beside the run (``RUN/serve/vectors.safetensors``).

Serving needs the tag tower's h_t of every catalog title and LLM tag (item-title and LLM tags) and the MiniLM
vectors of every interest (the explanation lookup's similarity match). Both need MiniLM, whose encoding of a
few thousand titles takes seconds; computed once per run and retriever, they are stored here so that a second
worker, a restart or a reload only reads them. The file records the retriever's ``model.safetensors`` size and
modification time: a retrained model recomputes. A read-only run folder only loses the cache.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Callable

import numpy as np

log = logging.getLogger("recgpt.serve")


def cached_vectors(path: Path, name: str, texts: list[str], compute: Callable[[list[str]], np.ndarray],
                   stamp: str) -> np.ndarray:
    """Vectors (len(texts), dim) of ``texts``: read from the array ``name`` of ``path`` when it was written for
    ``stamp`` and holds every text, else ``compute(texts)`` and (best effort) written back."""
    from safetensors.numpy import load_file, save_file

    texts = list(texts)
    stored: dict[str, np.ndarray] = {}
    meta: dict[str, str] = {}
    if path.exists():
        try:
            from safetensors import safe_open

            with safe_open(str(path), "np") as handle:
                meta = dict(handle.metadata() or {})
            stored = load_file(str(path)) if meta.get("stamp") == stamp else {}
        except (OSError, ValueError) as exc:
            log.warning("%s: unreadable vector cache, recomputing (%s)", path, exc)
            stored, meta = {}, {}
    known = json.loads(meta.get(f"{name}.texts", "[]")) if name in stored else []
    row = {t: i for i, t in enumerate(known)}
    if texts and all(t in row for t in texts):
        return stored[name][[row[t] for t in texts]]
    vectors = np.asarray(compute(texts), dtype=np.float32) if texts else np.zeros((0, 1), np.float32)
    arrays = {k: v for k, v in stored.items() if k != name}
    meta = {k: v for k, v in meta.items() if k.startswith(tuple(arrays)) and k != "stamp"} if arrays else {}
    arrays[name] = np.ascontiguousarray(vectors)
    meta.update({"stamp": stamp, f"{name}.texts": json.dumps(texts, ensure_ascii=False)})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        save_file(arrays, str(tmp), metadata=meta)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("%s: cannot write the vector cache (%s); vectors are recomputed at every start", path, exc)
    return vectors


def file_stamp(*paths: Path) -> str:
    """size:mtime_ns of each file, joined: changes whenever one of them is rewritten."""
    parts = []
    for p in paths:
        st = Path(p).stat()
        parts.append(f"{st.st_size}:{st.st_mtime_ns}")
    return "/".join(parts)
