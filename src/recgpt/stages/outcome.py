"""What a stage returns besides its table: counts of calls, bad answers and post-check removals, and usage.

``StageOutcome.counts`` keys (every stage): ``users``, ``calls``, ``failed_calls`` (the runtime gave up:
empty, unparsable or wrong-schema answers after its repairs), ``salvaged_answers`` (failed list
answers cut off by ``max_tokens`` whose complete items were kept), ``cached_calls``, ``candidates`` (rows the
model wrote), ``passed``, and one key per post-check (``duplicate``, ``ungrounded``, ...) with the rows it
removed. ``usage``: prompt/completion tokens and ``llm_seconds``, totals over the calls (overlapping when
calls run batched), and for the tags stage ``wall_seconds``, the time it took.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa


@dataclass
class StageOutcome:
    table: pa.Table
    counts: Counter = field(default_factory=Counter)
    usage: Counter = field(default_factory=Counter)

    def add_results(self, results) -> None:
        """Count calls, failures, cache hits and tokens of a list of ``LLMResult``."""
        for r in results:
            self.counts["calls"] += 1
            self.counts["failed_calls"] += 0 if r.ok else 1
            self.counts["cached_calls"] += 1 if r.cached else 0
            self.usage["prompt_tokens"] += r.prompt_tokens
            self.usage["completion_tokens"] += r.completion_tokens
            self.usage["llm_seconds"] += 0.0 if r.cached else r.latency_s

    @property
    def pass_rate(self) -> float | None:
        n = self.counts.get("candidates", 0)
        return self.counts.get("passed", 0) / n if n else None

    def summary(self) -> dict:
        return {
            "counts": dict(self.counts),
            "usage": {k: round(v, 3) if isinstance(v, float) else v for k, v in self.usage.items()},
            "pass_rate": self.pass_rate,
        }

    def write_summary(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(self.summary(), indent=2))
