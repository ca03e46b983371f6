"""Tiny run folders and verdicts for the judge tests (imported by tests/test_judge_*.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from recgpt.judge.buffer import Verdict
from recgpt.runfolder import RunFolder


def make_run(root: Path, explanation_text: str = "A sturdy stapler for your tidy home office.") -> RunFolder:
    """A run folder with 2 interests, 3 tags (one failing the stage's post-checks), 1 explanation."""
    run = RunFolder(root).ensure()
    pq.write_table(pa.table({"user_id": ["7", "8"],
                             "text": ["2013-05 (purchase) | Swingline stapler, Staples 5000 pack",
                                      "2014-01 (review) | Fountain pen ink, Leather journal"]}), run.compressed)
    pq.write_table(pa.table({"item_id": ["11"], "title": ["Swingline Heavy Duty Stapler"],
                             "category": ["Office Supplies"], "brand": ["Swingline"]}), run.data / "items.parquet")
    pq.write_table(pa.table({"user_id": ["7", "8"], "interest_id": [0, 0],
                             "interest": ["Home office organisation", "Fountain pen writing"],
                             "stage": ["listed", "extended"],
                             "reason": ["Bought a stapler and staples", "Bought ink and a journal"]}), run.interests)
    pq.write_table(pa.table({"user_id": ["7", "7", "8"],
                             "tag": ["Heavy-duty desktop stapler", "Stapler", "Refillable fountain pen converter"],
                             "interest": ["Home office organisation"] * 2 + ["Fountain pen writing"],
                             "reason": ["Owns staples", "x", "Buys ink"],
                             "category": ["Office Supplies"] * 3, "passed_checks": [True, False, True]}), run.tags)
    with sqlite3.connect(run.explanations) as conn:
        conn.execute("CREATE TABLE explanations (interest TEXT, item_id TEXT, explanation TEXT)")
        conn.execute("INSERT INTO explanations VALUES (?, ?, ?)", ("Home office organisation", "11", explanation_text))
    return run


def verdict(label: str, round: int, t: float, *, task: str = "tags", criterion: str = "relevance",
            item: str | None = None, source: str = "human", judge: str = "alice", passed: bool | None = None) -> Verdict:
    return Verdict(task=task, item_key=item or f"item r{round} t{t}", criterion=criterion, label=label,
                   passed=(label in ("yes", "excellent", "good", "strong")) if passed is None else passed,
                   source=source, judge=judge, rubric_version="v1", round=round, created_at=t)
