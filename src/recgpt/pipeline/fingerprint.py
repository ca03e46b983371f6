"""Fingerprints of a stage's inputs: what decides whether a finished stage can be skipped.

A fingerprint is the SHA-256 of a canonical JSON document holding the stage's code version, the
configuration sections it reads, and a digest of every input file or folder. Files are hashed by content
(so an upstream stage that reran and wrote the same bytes does not force its consumers to rerun); files
larger than ``CONTENT_HASH_LIMIT`` are described by size and modification time instead, to keep a rerun
nearly free on big raw logs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

CONTENT_HASH_LIMIT = 256 * 1024 * 1024
_DIGEST_CACHE: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    """``sha256:<hex>`` of the file's bytes, or ``stat:<size>:<mtime_ns>`` above the size limit.

    Content digests are memoised per (path, size, mtime) within the process.
    """
    stat = path.stat()
    if stat.st_size > CONTENT_HASH_LIMIT:
        return f"stat:{stat.st_size}:{stat.st_mtime_ns}"
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    cached = _DIGEST_CACHE.get(key)
    if cached is not None:
        return cached
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    digest = "sha256:" + sha.hexdigest()
    _DIGEST_CACHE[key] = digest
    return digest


def path_digest(path: Path) -> str | dict[str, str]:
    """Digest of a file, a mapping {relative path: digest} for a folder, or ``"missing"``."""
    if path.is_file():
        return file_digest(path)
    if path.is_dir():
        return {
            str(child.relative_to(path)): file_digest(child)
            for child in sorted(path.rglob("*"))
            if child.is_file() and not child.name.startswith(".")
        }
    return "missing"


def jsonable(value: Any) -> Any:
    """Configuration values as plain JSON: pydantic models dumped, tuples as lists, paths as strings."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def fingerprint(version: str, config: dict[str, Any], inputs: dict[str, Path]) -> tuple[str, dict[str, Any]]:
    """Return (hex fingerprint, the document it hashes) for a stage.

    ``config`` maps section names to their values; ``inputs`` maps a stable label (usually a path
    relative to the run folder) to the file or folder to digest.
    """
    document = {
        "version": version,
        "config": jsonable(config),
        "inputs": {label: path_digest(Path(p)) for label, p in sorted(inputs.items())},
    }
    blob = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest(), document


def changed_keys(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """Top-level labels (``config.<section>``, ``inputs.<label>``, ``version``) that differ between two
    fingerprint documents; used to say *why* a stage reruns."""
    if not old:
        return ["never ran"]
    out = []
    if old.get("version") != new.get("version"):
        out.append("version")
    for group in ("config", "inputs"):
        before, after = old.get(group, {}), new.get(group, {})
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                out.append(f"{group}.{key}")
    return out
