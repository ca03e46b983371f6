"""Explanations, LLM_RE, with offline production (report 2.4.2) and an online lookup table.

Offline: every interest's passed tags map through phi to categories (the ``category`` column of
tags.parquet); the interest is paired with at most ``items_per_interest`` items of its
``categories_per_interest`` most frequent categories, taken from the caller's candidate list (what the
retriever can recommend) or, by default, the whole catalog, most popular first. One explanation is written
per distinct (interest, item) pair (interests shared by several users are written once), plus an
"item-only" explanation (empty interest) for each paired item, used when a user's interests match none.

Online: :class:`ExplanationTable` (SQLite, key ``(interest_key, item_id)``) answers
``lookup(user_interests, item_id)`` with the best-matching interest's explanation: exact normalised text
first, then the closest stored interest by MiniLM cosine >= ``match_similarity``, else the item-only one.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from recgpt.llm.runtime import LLMRequest, LLMRuntime
from recgpt.stages.config import ExplanationsConfig
from recgpt.stages.explanation_checks import PROMPT_EXAMPLE, check_explanation
from recgpt.stages.outcome import StageOutcome
from recgpt.stages.postchecks import EmbeddingCache
from recgpt.stages.schemas import ExplanationAnswer, ExplanationAnswerReasoned, answer_schema
from recgpt.stages.text import normalise, season

TASK = "explanations"

EXPLANATIONS_SCHEMA = pa.schema(
    [("interest", pa.string()), ("item_id", pa.string()), ("explanation", pa.string()),
     ("passed_checks", pa.bool_()), ("failed_check", pa.string())]
)


@dataclass(frozen=True)
class Pair:
    """An (interest, item) pair to explain; ``interest == ""`` is the item-only variant."""

    interest: str
    item_id: str
    tags: tuple[str, ...] = ()


def pair_interests_with_items(
    tags: pa.Table,
    items: pa.Table,
    popularity: dict[str, int],
    config: ExplanationsConfig,
    candidates: list[str] | None = None,
) -> list[Pair]:
    """Distinct (interest, item) pairs through shared categories, then item-only pairs; deterministic."""
    allowed = set(candidates) if candidates is not None else None
    by_category: dict[str, list[str]] = {}
    for item, cat in zip(items.column("item_id").to_pylist(), items.column("category").to_pylist()):
        if allowed is None or item in allowed:
            by_category.setdefault(cat, []).append(item)
    for cat in by_category:
        by_category[cat].sort(key=lambda i: (-popularity.get(i, 0), i))
    cats_of: dict[str, Counter] = {}
    tags_of: dict[tuple[str, str], list[str]] = {}
    display: dict[str, str] = {}
    for row in tags.to_pylist():
        if not row.get("passed_checks", True) or not row.get("category") or not normalise(row["interest"] or ""):
            continue
        key = normalise(row["interest"])
        display.setdefault(key, row["interest"])
        cats_of.setdefault(key, Counter())[row["category"]] += 1
        tags_of.setdefault((key, row["category"]), []).append(row["tag"])
    pairs: list[Pair] = []
    for key in sorted(cats_of):
        chosen = [c for c, _ in sorted(cats_of[key].items(), key=lambda kv: (-kv[1], kv[0]))]
        chosen = chosen[: config.categories_per_interest]
        pool = [(i, c) for c in chosen for i in by_category.get(c, [])]
        pool.sort(key=lambda ic: (-popularity.get(ic[0], 0), ic[0]))
        for item, cat in pool[: config.items_per_interest]:
            pairs.append(Pair(display[key], item, tuple(dict.fromkeys(tags_of[(key, cat)]))[:3]))
    if config.item_only_for_paired_items:
        for item in dict.fromkeys(p.item_id for p in pairs):
            pairs.append(Pair("", item))
    return pairs


def pair_user_items(
    tags: pa.Table,
    recommended: dict[str, list[str]],
    items: pa.Table,
    popularity: dict[str, int],
    config: ExplanationsConfig,
) -> list[Pair]:
    """The pairs that explain what each user is shown: the user's interests with the user's own recommended
    items that share a category with the interest's tags, then an item-only pair for every recommended
    item (the lookup's fallback); distinct pairs, deterministic."""
    pairs: dict[tuple[str, str], Pair] = {}
    interest_only = config.model_copy(update={"item_only_for_paired_items": False})
    users = tags.column("user_id").to_pylist()
    for user, shown in recommended.items():
        mine = tags.take(pa.array([i for i, u in enumerate(users) if u == user], type=pa.int64()))
        for pair in pair_interests_with_items(mine, items, popularity, interest_only, candidates=shown):
            pairs.setdefault((pair.interest, pair.item_id), pair)
    for shown in recommended.values():
        for item in shown:
            pairs.setdefault(("", item), Pair("", item))
    return list(pairs.values())


def pair_catalog(
    tags: pa.Table,
    served: dict[str, list[str]],
    items: pa.Table,
    config: ExplanationsConfig,
    first: list[Pair] | None = None,
) -> list[Pair]:
    """Catalog-wide production (report 2.4.2), bounded by ``config.max_pairs``, in priority order:

    1. ``first`` (e.g. the pairs of :func:`pair_user_items` for what the evaluation shows the sampled users);
    2. each user's interests with the items of the user's own served list (``served``: user -> served items)
       that share a category with the interest's tags, at most ``items_per_interest`` per interest;
    3. item-only pairs for the ``item_only_items`` items served most often (over every user's list);
    4. each interest (once, however many users share it) with the most-served items of its tags' categories,
       at most ``items_per_interest``, so that a changed list still finds an explanation.

    Items are ranked by exposure (how many served lists hold them); pairs are distinct; deterministic."""
    exposure = Counter(item for shown in served.values() for item in shown)
    interest_only = config.model_copy(update={"item_only_for_paired_items": False})
    pairs: dict[tuple[str, str], Pair] = {}

    def add(new) -> None:
        for pair in new:
            if len(pairs) >= config.max_pairs:
                return
            pairs.setdefault((pair.interest, pair.item_id), pair)

    add(first or [])
    users = tags.column("user_id").to_pylist()
    for user in sorted(set(users)):
        mine = tags.take(pa.array([i for i, u in enumerate(users) if u == user], type=pa.int64()))
        add(pair_interests_with_items(mine, items, exposure, interest_only, candidates=served.get(user, [])))
    ranked = sorted(exposure, key=lambda i: (-exposure[i], i))
    add(Pair("", item) for item in ranked[: config.item_only_items])
    add(pair_interests_with_items(tags, items, exposure, interest_only, candidates=ranked))
    return list(pairs.values())


def explanation_coverage(table: "ExplanationTable", served: dict[str, list[str]],
                         interests: dict[str, list[str]]) -> dict[str, float]:
    """How the lookup answers every served slot: counts and shares of ``interest`` (an explanation of one of
    the user's interests), ``item`` (item-only) and ``none``, over all users (``served_*``) and over the users
    with interests (``personal_*``); ``served_paired_share``: slots for which production wrote an explanation
    (passed or not) for the item alone or with one of the user's interests (exact text)."""
    counts: dict[str, Counter] = {"served": Counter(), "personal": Counter()}
    item_only: dict[str, str] = {}
    written = set(table.db.execute("SELECT interest_key, item_id FROM explanations").fetchall())
    for user, shown in served.items():
        mine = interests.get(user, [])
        keys = ["", *(normalise(i) for i in mine)]
        for item in shown:
            if any((key, item) in written for key in keys):
                counts["served"]["paired"] += 1
            if mine:
                found = table.lookup(mine, item)
                kind = ("interest" if found.interest else "item") if found else "none"
                counts["personal"][kind] += 1
            else:
                if item not in item_only:
                    found = table.lookup([], item)
                    item_only[item] = "item" if found else "none"
                kind = item_only[item]
            counts["served"][kind] += 1
    out: dict[str, float] = {}
    for scope, c in counts.items():
        total = c["interest"] + c["item"] + c["none"]
        out[f"{scope}_slots"] = total
        for kind in ("interest", "item", "none") + (("paired",) if scope == "served" else ()):
            out[f"{scope}_{kind}_share"] = round(c[kind] / total, 4) if total else 0.0
    return out


def explanation_request(pair: Pair, item: dict, today: dt.date, config: ExplanationsConfig) -> LLMRequest:
    return LLMRequest(
        key=f"explain {pair.interest or '(item only)'} / item {pair.item_id}",
        task=TASK,
        variables={
            "interest": pair.interest, "item_title": item["title"], "item_category": item["category"],
            "tags": list(pair.tags), "date": today.isoformat(), "season": season(today), "example": PROMPT_EXAMPLE,
        },
        schema=answer_schema(TASK, config.reasoning),
        version=config.template_version,
        max_tokens=config.max_tokens,
    )


def produce_explanations(
    pairs: list[Pair],
    items: pa.Table,
    runtime: LLMRuntime,
    config: ExplanationsConfig,
    today: dt.date,
    personal_terms: list[str] | None = None,
) -> StageOutcome:
    """One cached LLM call per pair, then the Table 6 checks; failed calls are counted, never raised."""
    item_rows = {r["item_id"]: r for r in items.select(["item_id", "title", "category"]).to_pylist()}
    results = runtime.run_batch([explanation_request(p, item_rows[p.item_id], today, config) for p in pairs],
                                description="explanations")
    outcome = StageOutcome(pa.table({}))
    outcome.add_results(results)
    rows = []
    for pair, result in zip(pairs, results):
        answer = result.value if result.ok and isinstance(result.value, (ExplanationAnswer, ExplanationAnswerReasoned)) else None
        if answer is None:
            continue
        text = answer.explanation.strip()
        verdict = check_explanation(text, item_rows[pair.item_id]["title"], config, personal_terms)
        outcome.counts[verdict or "passed"] += 1
        outcome.counts["candidates"] += 1
        rows.append({"interest": pair.interest, "item_id": pair.item_id, "explanation": text,
                     "passed_checks": verdict is None, "failed_check": verdict})
    outcome.counts["pairs"] = len(pairs)
    outcome.table = pa.Table.from_pylist(rows, schema=EXPLANATIONS_SCHEMA)
    return outcome


@dataclass
class Explanation:
    explanation: str
    interest: str  # "" when it comes from the item's own qualities
    similarity: float  # 1.0 for an exact interest match, the cosine otherwise, 0.0 for item-only


class ExplanationTable:
    """The interest-item-explanation lookup table in SQLite (only rows that passed the checks are served)."""

    def __init__(self, path: str | Path, match_similarity: float = 0.6, vectors: EmbeddingCache | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.match_similarity = match_similarity
        self.vectors = vectors
        self.db = sqlite3.connect(self.path)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS explanations (interest_key TEXT NOT NULL, interest TEXT NOT NULL, "
            "item_id TEXT NOT NULL, explanation TEXT NOT NULL, passed INTEGER NOT NULL, failed_check TEXT, "
            "PRIMARY KEY (interest_key, item_id))"
        )

    def write(self, table: pa.Table) -> int:
        rows = [
            (normalise(r["interest"]), r["interest"], r["item_id"], r["explanation"], int(r["passed_checks"]),
             r["failed_check"])
            for r in table.to_pylist()
        ]
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO explanations VALUES (?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    def rows(self, item_id: str) -> list[tuple[str, str, str]]:
        """(interest_key, interest, explanation) of the passed rows for ``item_id``."""
        return self.db.execute(
            "SELECT interest_key, interest, explanation FROM explanations WHERE item_id = ? AND passed = 1 "
            "ORDER BY interest_key", (item_id,)
        ).fetchall()

    def lookup(self, user_interests: list[str], item_id: str) -> Explanation | None:
        """The best-matching interest's explanation for ``item_id``, else the item-only one, else None."""
        stored = self.rows(item_id)
        by_key = {k: (interest, text) for k, interest, text in stored if k}
        for interest in user_interests:
            if normalise(interest) in by_key:
                found = by_key[normalise(interest)]
                return Explanation(found[1], found[0], 1.0)
        if by_key and user_interests and self.match_similarity < 1.0:
            vectors = self.vectors or EmbeddingCache()
            keys = sorted(by_key)
            sims = vectors([by_key[k][0] for k in keys]) @ vectors(list(user_interests)).T
            best = np.unravel_index(int(np.argmax(sims)), sims.shape)
            if sims[best] >= self.match_similarity:
                interest, text = by_key[keys[best[0]]]
                return Explanation(text, interest, float(sims[best]))
        item_only = [text for k, _, text in stored if not k]
        return Explanation(item_only[0], "", 0.0) if item_only else None

    def mark_failed(self, failed: list[tuple[str, str, str]]) -> int:
        """Stop serving rows: each (interest, item_id, failed_check) that is served now gets ``passed = 0`` and
        that ``failed_check`` (the interest is matched on its normalised text, as :meth:`write` keys it).
        Returns how many rows changed."""
        changed = 0
        with self.db:
            for interest, item_id, check in failed:
                changed += self.db.execute(
                    "UPDATE explanations SET passed = 0, failed_check = ? "
                    "WHERE interest_key = ? AND item_id = ? AND passed = 1",
                    (check, normalise(interest), item_id)).rowcount
        return changed

    def for_interests(self, interests: list[str]) -> list[tuple[str, str, str, bool, str | None]]:
        """(interest, item_id, explanation, passed, failed_check) of every row for these interests."""
        keys = sorted({normalise(i) for i in interests})
        if not keys:
            return []
        marks = ",".join("?" * len(keys))
        rows = self.db.execute(
            f"SELECT interest, item_id, explanation, passed, failed_check FROM explanations "
            f"WHERE interest_key IN ({marks}) ORDER BY interest_key, item_id", keys
        ).fetchall()
        return [(i, item, text, bool(passed), failed) for i, item, text, passed, failed in rows]

    def count(self) -> dict[str, int]:
        total, passed = self.db.execute("SELECT COUNT(*), COALESCE(SUM(passed), 0) FROM explanations").fetchone()
        return {"rows": total, "passed": passed}

    def close(self) -> None:
        self.db.close()
