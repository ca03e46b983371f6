"""The matched interest pool of the interest-mining prompt (report 2.1.2, "{Matched Interest Pool}").

The pool holds preset interests from two sources:

* the catalog: one interest per category name (``"Pens / Markers"`` -> ``"pens and markers"``);
* interests mined earlier for other users (an ``interests.parquet``), counted by how many users have them,
  so that common, checked interests become presets for everyone.

``match(history_texts, k)`` returns the ``k`` presets closest (MiniLM cosine) to the centroid of the user's
item texts; a user never sees interests mined only for themself (``exclude_user``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from recgpt.stages.postchecks import EmbeddingCache
from recgpt.stages.text import normalise


def category_interest(category: str) -> str:
    """Readable interest text from a category name: ``"Pens / Markers"`` -> ``"pens and markers"``."""
    parts = [p.strip() for p in str(category).replace("&", "/").split("/") if p.strip()]
    parts = list(dict.fromkeys(p.lower() for p in parts))
    return " and ".join(parts[:3])


@dataclass
class InterestPool:
    interests: list[str] = field(default_factory=list)
    owners: list[set[str]] = field(default_factory=list)  # users an interest was mined for (empty: catalog)
    vectors: EmbeddingCache = field(default_factory=EmbeddingCache)

    def add(self, interest: str, owner: str | None = None) -> None:
        key = normalise(interest)
        if not key:
            return
        for i, existing in enumerate(self.interests):
            if normalise(existing) == key:
                if owner:
                    self.owners[i].add(owner)
                return
        self.interests.append(interest.strip())
        self.owners.append({owner} if owner else set())

    @classmethod
    def from_catalog(cls, categories: list[str], vectors: EmbeddingCache | None = None) -> "InterestPool":
        pool = cls(vectors=vectors or EmbeddingCache())
        for cat in sorted(set(categories)):
            pool.add(category_interest(cat))
        return pool

    def add_mined(self, path: str | Path, min_users: int = 1) -> int:
        """Add the checked interests of an earlier run's ``interests.parquet``; returns how many were new."""
        table = pq.read_table(path)
        if "passed_checks" in table.column_names:
            rows = [r for r in table.to_pylist() if r["passed_checks"]]
        else:
            rows = table.to_pylist()
        counts = Counter(normalise(r["interest"]) for r in rows)
        before = len(self.interests)
        for r in rows:
            if counts[normalise(r["interest"])] >= min_users:
                self.add(r["interest"], owner=r["user_id"])
        return len(self.interests) - before

    def match(self, history_texts: list[str], k: int, exclude_user: str | None = None) -> list[str]:
        """The ``k`` presets closest to the user's history (a user's own mined interests excluded)."""
        if k <= 0 or not self.interests or not history_texts:
            return []
        candidates = [
            i for i, owners in enumerate(self.owners) if not owners or owners - ({exclude_user} if exclude_user else set())
        ]
        if not candidates:
            return []
        centroid = self.vectors(history_texts).mean(axis=0)
        centroid /= np.linalg.norm(centroid) or 1.0
        scores = self.vectors([self.interests[i] for i in candidates]) @ centroid
        order = np.argsort(-scores, kind="stable")[:k]
        return [self.interests[candidates[j]] for j in order]
