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
    pq.write_table(pa.table({"user_id": ["7", "8"], "interest_id": ["0", "0"],
                             "interest": ["Home office organisation", "Fountain pen writing"],
                             "stage": ["listed", "extended"],
                             "reason": ["Bought a stapler and staples", "Bought ink and a journal"],
                             "passed_checks": [True, True], "failed_check": [None, None]}), run.interests)
    pq.write_table(pa.table({"user_id": ["7", "7", "8"],
                             "tag": ["Heavy-duty desktop stapler", "Stapler", "Refillable fountain pen converter"],
                             "interest": ["Home office organisation"] * 2 + ["Fountain pen writing"],
                             "reason": ["Owns staples", "x", "Buys ink"],
                             "category": ["Office Supplies"] * 3, "passed_checks": [True, False, True],
                             "failed_check": [None, "shape", None]}), run.tags)
    with sqlite3.connect(run.explanations) as conn:
        conn.execute("CREATE TABLE explanations (interest_key TEXT, interest TEXT, item_id TEXT, explanation TEXT,"
                     " passed INTEGER, failed_check TEXT)")  # the layout of recgpt.stages.explanations
        conn.execute("INSERT INTO explanations VALUES (?, ?, ?, ?, ?, ?)",
                     ("home office organisation", "Home office organisation", "11", explanation_text, 1, None))
    return run


def verdict(label: str, round: int, t: float, *, task: str = "tags", criterion: str = "relevance",
            item: str | None = None, source: str = "human", judge: str = "alice", passed: bool | None = None) -> Verdict:
    return Verdict(task=task, item_key=item or f"item r{round} t{t}", criterion=criterion, label=label,
                   passed=(label in ("yes", "excellent", "good", "strong")) if passed is None else passed,
                   source=source, judge=judge, rubric_version="v1", round=round, created_at=t)


def make_amazon_run(root: Path, user_id: str = "203") -> RunFolder:
    """A run folder built from the bundled Amazon Office data: the user's real compressed history (through
    recgpt.behavior), one interest, two tags and one explanation of the kind the stages write for them."""
    import dataclasses

    import pyarrow.compute as pc

    from recgpt.behavior.compression import compress_users
    from recgpt.data.loaders import load_amazon_office

    repo = Path(__file__).resolve().parents[1]
    data = load_amazon_office(repo / "data" / "amazon-office")
    keep = pa.array([user_id])
    sub = dataclasses.replace(data, users=data.users.filter(pc.is_in(data.users["user_id"], value_set=keep)),
                              events=data.events.filter(pc.is_in(data.events["user_id"], value_set=keep)),
                              holdout=data.holdout.filter(pc.is_in(data.holdout["user_id"], value_set=keep)))
    run = RunFolder(root).ensure()
    pq.write_table(compress_users(sub), run.compressed)
    pq.write_table(data.items, run.data / "items.parquet")
    pq.write_table(pa.table({"user_id": [user_id], "interest_id": ["0"], "interest": ["Fountain pen writing"],
                             "stage": ["listed"], "reason": ["Bought fountain pen ink cartridges from Pilot and Parker"],
                             "passed_checks": [True], "failed_check": [None]}), run.interests)
    pq.write_table(pa.table({"user_id": [user_id] * 2, "tag": ["Refillable fountain pen converter", "Smart coaster"],
                             "interest": ["Fountain pen writing"] * 2, "reason": ["Uses cartridges, may want bottled ink",
                                                                                  "No reason"],
                             "category": ["Pen Refills", "Pens"], "passed_checks": [True, True],
                             "failed_check": [None, None]}), run.tags)
    item = next(r for r in data.items.to_pylist() if "Fountain" in r["title"])
    with sqlite3.connect(run.explanations) as conn:
        conn.execute("CREATE TABLE explanations (interest_key TEXT, interest TEXT, item_id TEXT, explanation TEXT,"
                     " passed INTEGER, failed_check TEXT)")
        conn.execute("INSERT INTO explanations VALUES (?, ?, ?, ?, ?, ?)",
                     ("fountain pen writing", "Fountain pen writing", item["item_id"],
                      "Smooth ink for your daily fountain pen writing", 1, None))
    return run
