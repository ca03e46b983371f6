"""Where the pipeline's own tables live in a run folder, and how to read them back.

Besides the tables of the other areas (see :class:`recgpt.runfolder.RunFolder`), the pipeline writes::

    RUN/eval/sample.json               the seeded sample of evaluation users
    RUN/eval/recommendations.parquet   method, user_id, rank, item_id, score    (sample users, every method)
    RUN/eval/explained.parquet         user_id, rank, item_id, title, category, interest, explanation, source
    RUN/eval/metrics.json              accuracy, diversity and exposure per method (see ``evaluate`` stage)
    RUN/eval/deciles.parquet           method, population, k, decile, exposure, target_users, hit_rate
    RUN/eval/tag_eval.json             category HR@K of the tags and of the no-LLM baseline
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from recgpt.runfolder import RunFolder

#: The compared methods, in table order, with their display names.
METHODS: dict[str, str] = {
    "popularity": "Popularity",
    "classic": "Classic baseline",
    "collaborative": "TAR collaborative-only (beta=1)",
    "tags-only": "TAR tags-only (beta=0)",
    "fused": "TAR fused (tuned beta)",
}


@dataclass(frozen=True)
class EvalFiles:
    root: Path

    @property
    def folder(self) -> Path:
        return self.root / "eval"

    @property
    def sample(self) -> Path:
        return self.folder / "sample.json"

    @property
    def recommendations(self) -> Path:
        return self.folder / "recommendations.parquet"

    @property
    def explained(self) -> Path:
        return self.folder / "explained.parquet"

    @property
    def metrics(self) -> Path:
        return self.folder / "metrics.json"

    @property
    def deciles(self) -> Path:
        return self.folder / "deciles.parquet"

    @property
    def tag_eval(self) -> Path:
        return self.folder / "tag_eval.json"


def rel(root: Path, path: Path) -> str:
    """``path`` relative to the run folder, the form stage declarations use."""
    return str(Path(path).relative_to(root))


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


def run_folder(root: Path) -> tuple[RunFolder, EvalFiles]:
    return RunFolder(root), EvalFiles(Path(root))
