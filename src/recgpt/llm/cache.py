"""Persistent answer cache in SQLite, shared safely by several processes.

A row maps a key (sha256 of backend, model, template name and version, rendered prompt, decoding
parameters, answer schema, system prompt) to the accepted answer text and its token counts. Only accepted
answers are stored, so a rerun repeats exactly the calls that failed or never ran. The database runs in
WAL mode with a busy timeout, so readers never block the writer and concurrent writers wait instead of
failing; each ``put`` commits at once, so a killed batch keeps everything it finished.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    latency_s REAL NOT NULL,
    created REAL NOT NULL
)
"""


def cache_key(
    *,
    backend: str,
    model: str,
    task: str,
    version: str,
    prompt: str,
    params: dict[str, Any],
    schema: str,
    system_prompt: str | None = None,
) -> str:
    """The cache key of one call: a sha256 over everything that can change the answer."""
    payload = json.dumps(
        [backend, model, task, version, prompt, params, schema, system_prompt], sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class CachedAnswer:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float


class AnswerCache:
    """``get(key)``, ``get_many(keys)``, ``put(key, ...)`` over one SQLite file (created with its folder)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout = 60000")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute(_SCHEMA)

    def get(self, key: str) -> CachedAnswer | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT text, prompt_tokens, completion_tokens, latency_s FROM answers WHERE key = ?", (key,)
            ).fetchone()
        return CachedAnswer(*row) if row else None

    def get_many(self, keys: list[str]) -> dict[str, CachedAnswer]:
        """Look up many keys at once (chunks of 500), returning only the hits."""
        hits: dict[str, CachedAnswer] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for key, *row in self._conn.execute(
                    f"SELECT key, text, prompt_tokens, completion_tokens, latency_s FROM answers WHERE key IN ({marks})",
                    chunk,
                ):
                    hits[key] = CachedAnswer(*row)
        return hits

    def put(self, key: str, text: str, prompt_tokens: int, completion_tokens: int, latency_s: float) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?)",
                (key, text, prompt_tokens, completion_tokens, latency_s, time.time()),
            )

    def put_many(self, answers: list[tuple[str, str, int, int, float]]) -> None:
        """Store many (key, text, prompt_tokens, completion_tokens, latency_s) answers in one transaction."""
        now = time.time()
        with self._lock:
            self._conn.execute("BEGIN")
            self._conn.executemany("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?)",
                                   [(*answer, now) for answer in answers])
            self._conn.execute("COMMIT")

    def keys(self) -> list[str]:
        with self._lock:
            return [row[0] for row in self._conn.execute("SELECT key FROM answers")]

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
