"""Answers written per block of requests, one Parquet file per block, keyed by the request's cache key.

A worker writes a block's file once, when every call of the block is finished, under a temporary name
renamed into place (an atomic step): a worker killed mid-block leaves no file and loses only that block's
answers, and a block asked again after such a kill finds either no file (it runs) or the whole file (it
does not), so no answer is ever written twice. Rows (``BLOCK_SCHEMA``): one per call of the block, the
failed ones included (``ok`` false, ``error`` saying why); only accepted rows count as answers.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from recgpt.runfolder import llm_block_file

BLOCK_SCHEMA = pa.schema([
    ("cache_key", pa.string()), ("ok", pa.bool_()), ("text", pa.string()), ("error", pa.string()),
    ("prompt_tokens", pa.int64()), ("completion_tokens", pa.int64()), ("latency_s", pa.float64()),
    ("attempts", pa.int32()),
])


def block_id(cache_keys: list[str]) -> str:
    """A block's name: 16 hex digits of the hash of its cache keys, in order (the same calls, the same block)."""
    return hashlib.sha256("\n".join(cache_keys).encode()).hexdigest()[:16]


class BlockStore:
    """The block files of one folder (``RUN/llm/blocks``): write one, read one, find earlier answers."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def path(self, block: str) -> Path:
        return llm_block_file(self.folder, block)

    def has(self, block: str) -> bool:
        return self.path(block).exists()

    def write(self, block: str, rows: list[dict]) -> Path:
        """Write ``rows`` (``BLOCK_SCHEMA`` fields) as block ``block``, atomically."""
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path(block)
        partial = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.partial")
        pq.write_table(pa.Table.from_pylist(rows, schema=BLOCK_SCHEMA), partial)
        os.replace(partial, target)
        return target

    def read(self, block: str) -> list[dict]:
        return pq.read_table(self.path(block), schema=BLOCK_SCHEMA).to_pylist()

    def answers(self, cache_keys: set[str]) -> dict[str, dict]:
        """The accepted rows of every block file whose cache key is in ``cache_keys`` ({cache_key: row})."""
        found: dict[str, dict] = {}
        if not cache_keys or not self.folder.is_dir():
            return found
        for path in sorted(self.folder.glob(llm_block_file(self.folder, "*").name)):
            for row in pq.read_table(path, schema=BLOCK_SCHEMA).to_pylist():
                if row["ok"] and row["cache_key"] in cache_keys:
                    found.setdefault(row["cache_key"], row)
        return found
