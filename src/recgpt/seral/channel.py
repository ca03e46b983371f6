"""The nearline serendipity channel (SERAL stage 3): SerenGPT judgments made outside the request path, cached
per (user, profile version, item), and a final list that reserves a quota of slots for them.

    cache = JudgmentCache(run.seral_judgments)
    stats = refresh(cache, profiles, scorer, CandidatePool(by_category, popularity).of)   # changed users only
    slots = final_lists(base, cache.best(users, scorer.name, quota), config, category, profiles)
    channel_metrics(slots, base, labels, profiles, category, config)

Candidates come from outside the user's history categories: first (when the run has a trained retriever) the
items of tags-only retrieval (the TAR at beta 0, queried by the user's tags) that fall in never-touched
categories, up to ``tag_share`` of them; then the most popular items of the profile's neighbouring
never-touched categories (one per category in turn), then of any other never-touched category. The final
list keeps the base retriever's top ``list_size - quota`` items and puts the
best-scored candidates (score >= ``min_score``, not already listed) in the reserved slots at its end; slots
left unfilled go back to the base list's next items.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from pathlib import Path

from recgpt.seral.config import ChannelConfig
from recgpt.seral.records import ChannelSlot, CognitionProfile, Judgment, SerendipityLabel

_SCHEMA = """
CREATE TABLE IF NOT EXISTS judgments (
  user_id TEXT NOT NULL, scorer TEXT NOT NULL, profile_version TEXT NOT NULL, item_id TEXT NOT NULL,
  score REAL NOT NULL, verdict TEXT NOT NULL, reason TEXT NOT NULL,
  PRIMARY KEY (user_id, scorer, profile_version, item_id));
CREATE TABLE IF NOT EXISTS versions (
  user_id TEXT NOT NULL, scorer TEXT NOT NULL, profile_version TEXT NOT NULL, PRIMARY KEY (user_id, scorer));
"""


class JudgmentCache:
    """SQLite store of judgments, keyed by (user, scorer, profile version, item), and of the profile version
    each user's judgments were made for."""

    def __init__(self, path: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path))
        self.db.executescript(_SCHEMA)

    def version(self, user: str, scorer: str) -> str | None:
        row = self.db.execute("SELECT profile_version FROM versions WHERE user_id=? AND scorer=?",
                              (user, scorer)).fetchone()
        return row[0] if row else None

    def versions(self, scorer: str) -> dict[str, str]:
        """User -> the profile version the user's judgments of ``scorer`` were made for (every cached user)."""
        rows = self.db.execute("SELECT user_id, profile_version FROM versions WHERE scorer=? ORDER BY user_id",
                               (scorer,)).fetchall()
        return dict(rows)

    def replace(self, user: str, scorer: str, version: str, judgments: list[Judgment]) -> None:
        """Drop the user's judgments of ``scorer`` (every older profile version) and store these ones."""
        with self.db:
            self.db.execute("DELETE FROM judgments WHERE user_id=? AND scorer=?", (user, scorer))
            self.db.executemany("INSERT OR REPLACE INTO judgments VALUES (?,?,?,?,?,?,?)",
                                [(j.user_id, scorer, version, j.item_id, j.score, j.verdict, j.reason)
                                 for j in judgments])
            self.db.execute("INSERT OR REPLACE INTO versions VALUES (?,?,?)", (user, scorer, version))

    def judgments(self, user: str, scorer: str) -> list[Judgment]:
        """The user's judgments for the stored profile version, best first (ties by item id)."""
        rows = self.db.execute(
            "SELECT j.user_id, j.profile_version, j.item_id, j.scorer, j.score, j.verdict, j.reason FROM judgments j "
            "JOIN versions v ON v.user_id=j.user_id AND v.scorer=j.scorer AND v.profile_version=j.profile_version "
            "WHERE j.user_id=? AND j.scorer=? ORDER BY j.score DESC, j.item_id", (user, scorer)).fetchall()
        return [Judgment(*row) for row in rows]

    def rows(self) -> list[tuple]:
        """Every stored judgment row (tests and inspection)."""
        return self.db.execute("SELECT * FROM judgments ORDER BY user_id, item_id").fetchall()

    def close(self) -> None:
        self.db.close()


class CandidatePool:
    """The channel's candidate source over a catalog: ``CandidatePool(by_category, popularity).of(profile, limit)``
    gives up to ``limit`` items of never-touched categories: the first ``retrieved_limit`` of ``retrieved`` (a
    retriever's list, best first) that are of such categories, then the neighbours' most popular items, taken
    one per category in turn, then the other new categories' (most popular first)."""

    def __init__(self, by_category: dict[str, list[str]], popularity: dict[str, int]):
        def key(item: str):
            return -popularity.get(item, 0), item

        self.ranked = {c: sorted(items, key=key) for c, items in by_category.items()}
        self.category = {i: c for c, items in by_category.items() for i in items}
        self.by_popularity = sorted(self.category, key=key)

    def of(self, profile: CognitionProfile, limit: int, retrieved=(), retrieved_limit: int = 0) -> list[str]:
        familiar = set(profile.familiar)
        out = [i for i in retrieved if i in self.category and self.category[i] not in familiar][:retrieved_limit]
        taken = set(out)
        queues = [[i for i in self.ranked.get(c, []) if i not in taken] for c in profile.neighbours]
        while len(out) < limit and any(queues):
            for q in queues:
                if q and len(out) < limit:
                    out.append(q.pop(0))
        if len(out) < limit:
            skip = familiar | set(profile.neighbours)
            taken = set(out)
            for item in self.by_popularity:
                if len(out) >= limit:
                    break
                if self.category[item] not in skip and item not in taken:
                    out.append(item)
        return out


def refresh(cache: JudgmentCache, profiles: list[CognitionProfile], scorer, candidates) -> dict[str, int]:
    """The batch job: score the candidates (``candidates(profile) -> item ids``) of every user whose profile
    version differs from the cached one, in one scorer batch; the others keep their cached judgments."""
    stale = [p for p in profiles if cache.version(p.user_id, scorer.name) != p.version]
    asked = [(p, item) for p in stale for item in candidates(p)]
    judged: dict[str, list[Judgment]] = defaultdict(list)
    for j in scorer.score(asked):
        judged[j.user_id].append(j)
    for p in stale:
        cache.replace(p.user_id, scorer.name, p.version, judged.get(p.user_id, []))
    return {"users": len(profiles), "refreshed": len(stale), "kept": len(profiles) - len(stale),
            "judgments": len(asked)}


def final_lists(base: dict[str, list[str]], judged: dict[str, list[Judgment]], config: ChannelConfig
                ) -> list[ChannelSlot]:
    """Each user's final list: base items, then up to ``quota`` reserved serendipity slots (see the module
    docstring). ``base[user]`` must hold at least ``list_size`` items (best first)."""
    out: list[ChannelSlot] = []
    for user, items in base.items():
        keep = config.list_size - config.quota
        listed = list(items[:keep])
        picks = [j for j in judged.get(user, []) if j.score >= config.min_score and j.item_id not in listed]
        picks = picks[: config.quota]
        rows = [ChannelSlot(user, r, i, "base", 0.0) for r, i in enumerate(listed)]
        rows += [ChannelSlot(user, keep + r, j.item_id, "serendipity", j.score) for r, j in enumerate(picks)]
        chosen = set(listed) | {j.item_id for j in picks}
        for item in items[keep:]:
            if len(rows) >= config.list_size:
                break
            if item not in chosen:
                rows.append(ChannelSlot(user, len(rows), item, "base", 0.0))
                chosen.add(item)
        out += rows
    return out


def channel_metrics(slots: list[ChannelSlot], base: dict[str, list[str]], labels: list[SerendipityLabel],
                    profiles: dict[str, CognitionProfile], category: dict[str, str], k: int) -> dict:
    """With and without the channel: exposure ratio (share of the top-k slots whose item is of a category
    the user never touched: the PVR analogue), serendipity hit rate (users whose serendipitous held-out item
    is in the list, over those who have one), Recall@k (every labelled user's held-out item in the list)."""
    with_channel: dict[str, list[str]] = defaultdict(list)
    for slot in sorted(slots, key=lambda s: (s.user_id, s.rank)):
        with_channel[slot.user_id].append(slot.item_id)
    lists = {"without": {u: items[:k] for u, items in base.items()},
             "with": {u: items[:k] for u, items in with_channel.items()}}
    out = {}
    for name, by_user in lists.items():
        new = total = 0
        for user, items in by_user.items():
            familiar = set(profiles[user].familiar) if user in profiles else set()
            new += sum(category.get(i) not in familiar for i in items)
            total += len(items)
        ranked = [lab for lab in labels if lab.user_id in by_user]
        seren = [lab for lab in ranked if lab.serendipitous]
        out[name] = {"users": len(by_user), "exposure_ratio": new / total if total else 0.0,
                     f"serendipity_hit@{k}": (sum(lab.item_id in by_user[lab.user_id] for lab in seren) / len(seren)
                                              if seren else 0.0),
                     f"recall@{k}": (sum(lab.item_id in by_user[lab.user_id] for lab in ranked) / len(ranked)
                                     if ranked else 0.0),
                     "serendipitous_users": len(seren)}
    out["reserved_filled"] = sum(s.channel == "serendipity" for s in slots) / max(1, len(with_channel))
    return out
