"""Reading and writing the pipeline's own tables (their places are named by :class:`recgpt.runfolder.RunFolder`):
JSON written atomically, Parquet tables as row dicts, the LLM usage log, and the compared methods.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq


#: The compared methods, in table order, with their display names.
METHODS: dict[str, str] = {
    "popularity": "Popularity",
    "classic": "Classic baseline",
    "sequential": "SASRec (sequential reference)",
    "collaborative": "TAR collaborative-only (beta=1)",
    "tags-only": "TAR tags-only (beta=0)",
    "fused": "TAR fused (tuned beta)",
}


def read_json(path: Path, default: Any = None) -> Any:
    return json.loads(path.read_text()) if path.exists() else default


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, default=float) + "\n")
    tmp.replace(path)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """A Parquet table as a list of row dicts ([] when the file is absent)."""
    return pq.read_table(path).to_pylist() if path.exists() else []


def read_usage(path: Path) -> list[dict[str, Any]]:
    """The LLM runtime's ``usage.jsonl`` (one JSON object per call); bad lines are skipped."""
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows
