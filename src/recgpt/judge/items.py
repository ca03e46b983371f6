"""What the judge grades: one stage output with the context its stage saw, read from a run folder.

A :class:`JudgeItem` is one interest (``interests.parquet`` row), one tag (``tags.parquet`` row) or one
explanation (a row of the explanations SQLite table), with ``context`` (label -> text shown to the judge
and to people: the user's compressed behavior, the interests, the item's title/category/brand) and
``output`` (field -> text being judged). ``item_key`` names the output and ends with a short hash of its
text ("user 7 tag 3 #1a2b3c4d"), so it is stable across reruns and two runs sharing one buffer never mix
up different outputs that sit in the same place.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from recgpt.errors import MissingInputError, UnknownNameError
from recgpt.runfolder import RunFolder


@dataclass
class JudgeItem:
    task: str
    item_key: str
    context: dict[str, str]
    output: dict[str, str]
    rule_passed: bool | None = None  # the stage's post-checks, where the stage recorded them
    rule_notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if "#" not in self.item_key:
            digest = hashlib.sha1(json.dumps(self.output, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
            self.item_key = f"{self.item_key} #{digest[:8]}"


NOT_A_QUALITY_CHECK = {"over_cap"}
"""Failed checks that only cap how many outputs a stage keeps; they say nothing about quality."""


def _stage_checks(row: dict[str, Any], passed_column: str = "passed_checks") -> tuple[bool | None, str]:
    """The stage's own post-check verdict recorded with the row: (passed, note), (None, "") if absent."""
    passed, failed = row.get(passed_column), row.get("failed_check")
    if passed is None or failed in NOT_A_QUALITY_CHECK:
        return None, ""
    return bool(passed), "stage post-checks passed" if passed else f"stage post-check failed: {failed or '?'}"


def clip(text: str, limit: int) -> str:
    """``text`` stripped, cut to ``limit`` characters (ending in "...") when longer."""
    text = str(text or "").strip()
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return pq.read_table(path).to_pylist()


def _behavior_texts(run: RunFolder) -> dict[str, str]:
    return {str(r["user_id"]): str(r.get("text") or "") for r in _rows(run.compressed)}


def _item_infos(run: RunFolder) -> dict[str, dict[str, Any]]:
    return {str(r["item_id"]): r for r in _rows(run.table("items"))}


def load_interest_items(run: RunFolder, max_context_chars: int = 1500) -> list[JudgeItem]:
    """Every mined interest: ``interests_all.parquet`` (with the post-check verdicts) when the stage wrote
    it, else ``interests.parquet`` (the kept ones)."""
    behavior = _behavior_texts(run)
    every = run.interests_all
    items = []
    for r in _rows(every if every.exists() else run.interests):
        user = str(r["user_id"])
        passed, note = _stage_checks(r)
        items.append(JudgeItem(
            task="interests", item_key=f"user {user} interest {r['interest_id']}",
            context={"User behavior": clip(behavior.get(user, "(not available)"), max_context_chars)},
            output={"interest": str(r["interest"]), "stage": str(r.get("stage") or ""),
                    "reason": str(r.get("reason") or "")},
            rule_passed=passed, rule_notes=note, extra={"user_id": user}))
    return items


def load_tag_items(run: RunFolder, max_context_chars: int = 1500) -> list[JudgeItem]:
    behavior = _behavior_texts(run)
    interests: dict[str, list[str]] = {}
    for r in _rows(run.interests):
        if r.get("passed_checks") is not False:
            interests.setdefault(str(r["user_id"]), []).append(str(r["interest"]))
    items, seen = [], {}
    for r in _rows(run.tags):
        user = str(r["user_id"])
        n = seen[user] = seen.get(user, -1) + 1
        passed, note = _stage_checks(r)
        items.append(JudgeItem(
            task="tags", item_key=f"user {user} tag {n}",
            context={"User behavior": clip(behavior.get(user, "(not available)"), max_context_chars),
                     "User interests": clip("; ".join(interests.get(user, [])) or "(none)", 400)},
            output={"tag": str(r["tag"]), "interest": str(r.get("interest") or ""),
                    "reason": str(r.get("reason") or "")},
            rule_passed=passed, rule_notes=note,
            extra={"user_id": user, "category": str(r.get("category") or "")}))
    return items


def _explanation_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of the explanations table: the first table with ``explanation`` and ``item_id`` columns."""
    if not path.exists():
        return []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cursor = conn.execute(f'SELECT * FROM "{table}"')
            names = [d[0] for d in cursor.description]
            if "explanation" in names and "item_id" in names:
                return [dict(zip(names, row)) for row in cursor]
    raise MissingInputError(f"{path}: no table with 'explanation' and 'item_id' columns (tables: {tables})")


def load_explanation_items(run: RunFolder, max_context_chars: int = 1500) -> list[JudgeItem]:
    """Every row of the explanations lookup table (``passed``/``failed_check`` as the post-check verdict), with
    the row's ``item_id`` and ``interest`` ("" for an item-only explanation) in ``extra``."""
    infos = _item_infos(run)
    items = []
    for r in _explanation_rows(run.explanations):
        item_id = str(r["item_id"])
        info = infos.get(item_id, {})
        interest = str(r.get("interest") or "")
        context = {"User interest": interest,
                   "Item title": clip(str(info.get("title") or r.get("title") or "(unknown)"), max_context_chars),
                   "Item category": str(info.get("category") or r.get("category") or "(unknown)")}
        if info.get("brand"):
            context["Item brand"] = str(info["brand"])
        passed, note = _stage_checks(r, "passed")
        items.append(JudgeItem(
            task="explanations", item_key=f"interest {interest} item {item_id}", context=context,
            output={"explanation": str(r["explanation"])}, rule_passed=passed, rule_notes=note,
            extra={"item_id": item_id, "interest": interest}))
    return items


def load_serendipity_items(run: RunFolder, max_context_chars: int = 1500) -> list[JudgeItem]:
    """seral's candidate items (``RUN/seral/candidates.parquet``), each with its user's cognition profile
    (``profiles.parquet``): is the item serendipitous for this user? The key names the user and the item, so
    human labels become SerenGPT preference pairs (:func:`recgpt.seral.pairs.human_pairs`)."""
    from recgpt.seral.records import CognitionProfile

    infos = _item_infos(run)
    profiles = {str(r["user_id"]): CognitionProfile(**r) for r in _rows(run.seral_profiles)}
    items = []
    for r in _rows(run.seral_candidates):
        user, item_id = str(r["user_id"]), str(r["item_id"])
        if user not in profiles:
            continue
        text = profiles[user].text()
        context = {"Stable interests": text["long_term"], "Recent interests": text["recent"],
                   "Recent items": clip(text["recent_items"], max_context_chars),
                   "Nearby categories never bought": text["neighbours"]}
        info = infos.get(item_id, {})
        items.append(JudgeItem(
            task="serendipity", item_key=f"user {user} item {item_id}", context=context,
            output={"item": clip(str(info.get("title") or item_id), 200), "category": str(r["category"])},
            extra={"user_id": user, "item_id": item_id}))
    return items


LOADERS = {"interests": load_interest_items, "tags": load_tag_items, "explanations": load_explanation_items,
           "serendipity": load_serendipity_items}


def load_items(run: RunFolder, tasks: tuple[str, ...] | list[str] = tuple(LOADERS),
               sample_per_task: int | None = None, seed: int = 0,
               max_context_chars: int = 1500) -> list[JudgeItem]:
    """Every stage output of ``run`` for ``tasks``; with ``sample_per_task``, a seeded sample of each task."""
    out: list[JudgeItem] = []
    for task in tasks:
        if task not in LOADERS:
            raise UnknownNameError(f"unknown judge task {task!r}; known: {', '.join(LOADERS)}")
        out.extend(LOADERS[task](run, max_context_chars))
    return sample_items(out, sample_per_task, seed)


def sample_items(items: list[JudgeItem], per_task: int | None, seed: int = 0) -> list[JudgeItem]:
    """A seeded sample of at most ``per_task`` items of each task (task order kept); all when None."""
    if per_task is None:
        return items
    out: list[JudgeItem] = []
    for task in dict.fromkeys(item.task for item in items):
        group = [item for item in items if item.task == task]
        if len(group) > per_task:
            group = sorted(random.Random(f"{seed}:{task}").sample(group, per_task), key=lambda item: item.item_key)
        out.extend(group)
    return out
