"""Cognition profiles (SERAL stage 1): each user's behavior compressed into three levels.

* ``long_term``: the user's most frequent categories over the whole visible history (stable interests);
* ``recent``: the categories of the latest ``recent`` behaviors, newest first, with their item titles;
* ``neighbours``: categories the user never touched that neighbour the user's ones: for categories a and c,
  ``sim(a, c) = users(a and c) / sqrt(users(a) users(c))`` over every user's history (category co-occurrence
  across users, cosine-normalised so that a merely popular category does not neighbour everything); a
  never-touched c scores ``sum over the user's categories a of sim(a, c)``, weighted by how often the user
  had a; categories sharing fewer than ``min_support`` users with a count 0.

The interest stage's mined interests (``RUN/stages/interests.parquet``) join the profile where they exist.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from recgpt.seral.config import ProfileConfig
from recgpt.seral.records import CognitionProfile
from recgpt.seral.truth import UserHistory


class CategoryNeighbours:
    """Category co-occurrence across users: ``sim`` (C x C, zero diagonal) over ``names``."""

    def __init__(self, history: UserHistory, category: dict[str, str], min_support: int = 1):
        self.names = sorted(set(category.values()))
        self.index = {c: i for i, c in enumerate(self.names)}
        rows = [sorted({self.index[category[i]] for i in items if i in category}) for items in history.items.values()]
        m = np.zeros((len(rows), len(self.names)), dtype=np.float32)
        for r, cols in enumerate(rows):
            m[r, cols] = 1.0
        co = m.T @ m
        users = np.diag(co).copy()
        co[co < min_support] = 0.0
        np.fill_diagonal(co, 0.0)
        norm = np.sqrt(np.maximum(users[:, None] * users[None, :], 1e-9))
        self.sim = co / norm

    def of(self, counts: Counter, k: int) -> list[str]:
        """The ``k`` never-touched categories closest to a user whose category counts are ``counts``."""
        if k == 0 or not counts:
            return []
        weights = np.zeros(len(self.names), dtype=np.float32)
        for cat, n in counts.items():
            if cat in self.index:
                weights[self.index[cat]] = n
        score = weights @ self.sim
        score[weights > 0] = -1.0  # touched: not a neighbour
        order = np.argsort(-score, kind="stable")
        return [self.names[j] for j in order[:k] if score[j] > 0]


def build_profiles(dataset, fold: str | None, category: dict[str, str], config: ProfileConfig,
                   behaviors: list[str] | None = None, interests: dict[str, list[str]] | None = None,
                   users: list[str] | None = None) -> list[CognitionProfile]:
    """A profile for each user with a visible history of ``fold`` (or each of ``users``), sorted by user."""
    history = UserHistory.of(dataset, fold, behaviors)
    neighbours = CategoryNeighbours(history, category, config.min_support)
    titles = dict(zip(dataset.items.column("item_id").to_pylist(), dataset.items.column("title").to_pylist()))
    wanted = sorted(history.items) if users is None else [u for u in sorted(set(users)) if u in history.items]
    out = []
    for user in wanted:
        out.append(profile_of(user, history.items[user], category, titles, neighbours, config,
                              (interests or {}).get(user, [])))
    return out


def profile_of(user: str, items: list[str], category: dict[str, str], titles: dict[str, str],
               neighbours: CategoryNeighbours, config: ProfileConfig, interests: list[str]) -> CognitionProfile:
    """One user's profile from the user's items, oldest first."""
    cats = [category[i] for i in items if i in category]
    counts = Counter(cats)
    last_seen = {c: t for t, c in enumerate(cats)}
    # most frequent first; ties: the more recently touched first
    long_term = sorted(counts, key=lambda c: (-counts[c], -last_seen[c]))[: config.long_term]
    latest = [i for i in items if i in category][-config.recent:][::-1]
    recent = list(dict.fromkeys(category[i] for i in latest))
    return CognitionProfile(user, long_term, recent, neighbours.of(counts, config.neighbours), sorted(counts),
                            [" ".join(str(titles.get(i, i)).split()[:8]) for i in latest], list(interests),
                            len(items))


def interests_by_user(path) -> dict[str, list[str]]:
    """User -> mined interests from an interests table (``RUN/stages/interests.parquet``); {} when absent."""
    from pathlib import Path

    import pyarrow.parquet as pq

    if not Path(path).exists():
        return {}
    out: dict[str, list[str]] = {}
    table = pq.read_table(path, columns=["user_id", "interest"])
    for user, interest in zip(table.column("user_id").to_pylist(), table.column("interest").to_pylist()):
        out.setdefault(user, []).append(interest)
    return out
