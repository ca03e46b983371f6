"""The judge data buffer (report 3.1, Figure 7): every human, LLM and rule verdict, in one SQLite table.

One row is one verdict on one criterion of one stage output::

    task, item_key          which output ("tags", "user 42 tag 3")
    input_json, output_json what the judge saw (context) and what was judged, as JSON objects
    criterion, label        e.g. "relevance", "yes"; passed = label is among the criterion's pass labels
    reason                  the judge's short reason (or a person's note), may be empty
    source                  "human" | "llm" | "rule"
    judge                   who judged: the LLM's model name, the rule set, or the person's name
    rubric_version, round   rubric version ("v1") and labelling round (1, 2, ...)
    created_at              UTC seconds

Re-judging the same (task, item_key, criterion, source, judge, round) replaces the old verdict, so a
person can correct a label and an interrupted LLM run resumes without duplicates.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

SOURCES = ("human", "llm", "rule")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS verdicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task TEXT NOT NULL, item_key TEXT NOT NULL,
    input_json TEXT NOT NULL, output_json TEXT NOT NULL,
    criterion TEXT NOT NULL, label TEXT NOT NULL, passed INTEGER NOT NULL, reason TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL CHECK (source IN ('human', 'llm', 'rule')),
    judge TEXT NOT NULL, rubric_version TEXT NOT NULL, round INTEGER NOT NULL, created_at REAL NOT NULL,
    UNIQUE (task, item_key, criterion, source, judge, round) ON CONFLICT REPLACE
);
CREATE INDEX IF NOT EXISTS verdicts_lookup ON verdicts (task, source, round);
"""


@dataclass
class Verdict:
    task: str
    item_key: str
    criterion: str
    label: str
    passed: bool
    source: str
    judge: str
    rubric_version: str
    round: int
    input: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    created_at: float = 0.0

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"verdict source must be one of {SOURCES}, got {self.source!r}")


class JudgeBuffer:
    """SQLite-backed store of verdicts. ``JudgeBuffer(path)`` creates the file and table when missing."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False)
        self._conn.executescript(_SCHEMA)
        self._conn.commit()

    def close(self) -> None:
        self._conn.close()

    def add(self, verdicts: Iterable[Verdict]) -> int:
        """Store verdicts (replacing earlier ones with the same key); returns how many were written."""
        now = time.time()
        rows = [(v.task, v.item_key, json.dumps(v.input, ensure_ascii=False, sort_keys=True),
                 json.dumps(v.output, ensure_ascii=False, sort_keys=True), v.criterion, v.label, int(v.passed),
                 v.reason or "", v.source, v.judge, v.rubric_version, int(v.round), v.created_at or now)
                for v in verdicts]
        with self._conn:
            self._conn.executemany(
                "INSERT INTO verdicts (task, item_key, input_json, output_json, criterion, label, passed, reason,"
                " source, judge, rubric_version, round, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        return len(rows)

    def verdicts(self, task: str | None = None, source: str | None = None, judge: str | None = None,
                 round: int | None = None, criterion: str | None = None) -> list[Verdict]:
        """Verdicts matching every given filter, oldest first."""
        where, args = [], []
        for column, value in (("task", task), ("source", source), ("judge", judge), ("round", round),
                              ("criterion", criterion)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = "SELECT * FROM verdicts" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created_at, id"
        return list(self._rows(sql, args))

    def _rows(self, sql: str, args: list[Any]) -> Iterator[Verdict]:
        cursor = self._conn.execute(sql, args)
        names = [d[0] for d in cursor.description]
        for row in cursor:
            r = dict(zip(names, row))
            yield Verdict(task=r["task"], item_key=r["item_key"], criterion=r["criterion"], label=r["label"],
                          passed=bool(r["passed"]), source=r["source"], judge=r["judge"],
                          rubric_version=r["rubric_version"], round=r["round"], input=json.loads(r["input_json"]),
                          output=json.loads(r["output_json"]), reason=r["reason"], created_at=r["created_at"])

    def rounds(self, source: str = "human") -> list[int]:
        """Distinct rounds that hold verdicts from ``source``, ascending."""
        cur = self._conn.execute("SELECT DISTINCT round FROM verdicts WHERE source = ? ORDER BY round", (source,))
        return [r[0] for r in cur]

    def judged_keys(self, source: str, judge: str | None = None, round: int | None = None) -> set[tuple[str, str, str]]:
        """(task, item_key, criterion) triples already judged by ``source`` (and ``judge``/``round`` if given)."""
        sql, args = "SELECT task, item_key, criterion FROM verdicts WHERE source = ?", [source]
        if judge is not None:
            sql, args = sql + " AND judge = ?", args + [judge]
        if round is not None:
            sql, args = sql + " AND round = ?", args + [round]
        return {tuple(r) for r in self._conn.execute(sql, args)}

    def judges(self, source: str = "llm") -> list[str]:
        cur = self._conn.execute("SELECT DISTINCT judge FROM verdicts WHERE source = ? ORDER BY judge", (source,))
        return [r[0] for r in cur]

    def count(self, source: str | None = None) -> int:
        sql, args = "SELECT COUNT(*) FROM verdicts", []
        if source:
            sql, args = sql + " WHERE source = ?", [source]
        return int(self._conn.execute(sql, args).fetchone()[0])
