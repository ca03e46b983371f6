"""The layout of a run folder: where each stage writes its output, so stages find each other's tables.

A run folder holds everything one pipeline run produced::

    RUN/
      config.yaml                 the resolved configuration of the run
      data/                       canonical tables (items, users, events, searches, holdout).parquet
      behavior/compressed.parquet one row per user: compressed reliable behavior (report 2.1.1)
      llm/cache.sqlite            the LLM runtime's persistent cache
      llm/usage.jsonl             one line per LLM call: tokens, latency, cache hit, failure
      stages/interests.parquet    mined interests (report 2.1.2)
      stages/tags.parquet         predicted tags (report 2.2)
      stages/explanations.sqlite  interest-item-explanation lookup table (report 2.4.2)
      phi/                        the tag-to-category model
      retriever/                  the trained user-item-tag retriever and its index
      judge/                      judge verdicts and pass rates
      report/                     report.md, report.html and plots
      stages.json                 which pipeline stages finished, with the fingerprint of their inputs
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunFolder:
    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def ensure(self) -> "RunFolder":
        for sub in ("data", "behavior", "llm", "stages", "phi", "retriever", "judge", "report"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        return self

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def compressed(self) -> Path:
        return self.root / "behavior" / "compressed.parquet"

    @property
    def llm_cache(self) -> Path:
        return self.root / "llm" / "cache.sqlite"

    @property
    def llm_usage(self) -> Path:
        return self.root / "llm" / "usage.jsonl"

    @property
    def interests(self) -> Path:
        return self.root / "stages" / "interests.parquet"

    @property
    def tags(self) -> Path:
        return self.root / "stages" / "tags.parquet"

    @property
    def explanations(self) -> Path:
        return self.root / "stages" / "explanations.sqlite"

    @property
    def phi(self) -> Path:
        return self.root / "phi"

    @property
    def retriever(self) -> Path:
        return self.root / "retriever"

    @property
    def judge(self) -> Path:
        return self.root / "judge"

    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def stages_state(self) -> Path:
        return self.root / "stages.json"
