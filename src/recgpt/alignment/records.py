"""Training sets: typed, versioned rows, stored as Parquet in the run folder and exported as chat JSON Lines.

One row is one sample: the prompt as chat messages, rendered by the same stage template as at inference (so the
model is trained on exactly what it is later asked), and the completion, the stage's own answer format (the
JSON the stage parses). ``source`` says where the completion came from (``logs``: real behavior, ``teacher``: a
stronger model's answer, ``self``: the model's own judged answer), ``round`` the self-training round, ``weight``
its weight in the loss, ``provenance`` (JSON) what it was built from.

A set file carries, in its Parquet metadata, the format version, the builder (``incremental.v1``), the task
and template version its prompts were rendered with, and the builder's configuration: a trainer refuses a set
made for another task or template version.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from recgpt.errors import MissingInputError, RecgptError

FORMAT = "training-set.v1"
_MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
SCHEMA = pa.schema([
    ("task", pa.string()), ("messages", pa.list_(_MESSAGE)), ("completion", pa.string()), ("source", pa.string()),
    ("round", pa.int32()), ("weight", pa.float32()), ("user_id", pa.string()), ("split", pa.string()),
    ("provenance", pa.string()),
])


class TrainingSetError(RecgptError):
    """A training set is empty, unreadable, or made for another task or template version."""


@dataclass
class TrainingSample:
    task: str
    messages: list[dict[str, str]]  # [{"role": "user", "content": "..."}], a system message first if any
    completion: str
    source: str  # logs | teacher | self
    user_id: str
    round: int = 0
    weight: float = 1.0
    split: str = "train"  # train | heldout (early stopping)
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainingSet:
    """Samples plus what they were made with: ``builder`` (versioned), ``task``, ``template_version``,
    ``config`` (the builder's settings) and ``counts`` (what each step kept and dropped)."""

    samples: list[TrainingSample]
    builder: str
    task: str
    template_version: str
    config: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def meta(self) -> dict[str, Any]:
        return {"format": FORMAT, "builder": self.builder, "task": self.task,
                "template_version": self.template_version, "config": self.config, "counts": self.counts}

    def split(self, name: str) -> list[TrainingSample]:
        return [s for s in self.samples if s.split == name]

    def write(self, path: str | Path) -> Path:
        """Parquet at ``path`` (written beside, then renamed), metadata in the schema."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [{**asdict(s), "provenance": json.dumps(s.provenance, sort_keys=True)} for s in self.samples]
        table = pa.Table.from_pylist(rows, schema=SCHEMA).replace_schema_metadata({"recgpt": json.dumps(self.meta)})
        tmp = path.with_name(path.name + ".tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, path)
        return path

    @classmethod
    def read(cls, path: str | Path) -> "TrainingSet":
        path = Path(path)
        if not path.exists():
            raise MissingInputError(f"{path}: no training set here (build one with `recgpt align build-il`)")
        table = pq.read_table(path)
        raw = (table.schema.metadata or {}).get(b"recgpt")
        meta = json.loads(raw) if raw else {}
        if meta.get("format") != FORMAT:
            raise TrainingSetError(f"{path}: not a training set of format {FORMAT} (found {meta.get('format')!r})")
        samples = [TrainingSample(**{**row, "provenance": json.loads(row["provenance"] or "{}")})
                   for row in table.to_pylist()]
        return cls(samples, meta["builder"], meta["task"], meta["template_version"], meta.get("config", {}),
                   meta.get("counts", {}))

    def export_jsonl(self, path: str | Path, split: str | None = "train") -> Path:
        """Chat JSON Lines, one sample a line: ``{"prompt": [messages], "completion": [{"role": "assistant",
        "content": ...}]}`` (the prompt-completion form fine-tuning libraries such as trl read)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            for s in self.samples:
                if split is None or s.split == split:
                    out.write(json.dumps({"prompt": s.messages,
                                          "completion": [{"role": "assistant", "content": s.completion}]},
                                         ensure_ascii=False) + "\n")
        return path
