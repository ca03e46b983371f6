"""The interest-item-explanation lookup table in memory (report 2.4.2: produced offline, looked up online).

:class:`ExplanationLookup` holds the passed rows of ``RUN/stages/explanations.sqlite`` and answers exactly
like :meth:`recgpt.stages.explanations.ExplanationTable.lookup`: the stored explanation of one of the user's
interests (exact normalised text first, in the user's order), else the stored interest closest to one of the
user's interests by MiniLM cosine when it reaches ``match_similarity``, else the item-only explanation, else
None. The MiniLM vectors of every interest are computed once at start-up, so no model runs per request.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recgpt.stages.text import normalise

INTEREST, ITEM = "interest", "item"


@dataclass(frozen=True)
class Found:
    """A looked-up explanation: its text, the stored interest it explains ("" for item-only), the cosine of
    the match (1.0 exact, 0.0 item-only) and its kind, INTEREST or ITEM."""

    text: str
    interest: str
    similarity: float
    kind: str


class ExplanationLookup:
    """``lookup(user_interests, item_id)``; ``vectors`` maps interest text -> L2-normalised MiniLM vector for
    every stored and user interest (needed only when ``match_similarity < 1``)."""

    def __init__(self, rows: list[tuple[str, str, str, str]], match_similarity: float = 0.6):
        self.match_similarity = match_similarity
        self.by_item: dict[str, dict[str, tuple[str, str]]] = {}
        self.item_only: dict[str, str] = {}
        for key, interest, item, text in sorted(rows):
            if key:
                self.by_item.setdefault(item, {})[key] = (interest, text)
            else:
                self.item_only.setdefault(item, text)
        self.vectors: dict[str, np.ndarray] = {}

    @classmethod
    def from_sqlite(cls, path: str | Path, match_similarity: float = 0.6) -> "ExplanationLookup":
        """The passed rows of an explanations table written by the stages area (read once, then closed)."""
        conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT interest_key, interest, item_id, explanation FROM explanations WHERE passed = 1").fetchall()
        finally:
            conn.close()
        return cls([tuple(map(str, r)) for r in rows], match_similarity)

    @property
    def needs_vectors(self) -> bool:
        return self.match_similarity < 1.0 and bool(self.by_item)

    def stored_interests(self) -> list[str]:
        return sorted({interest for stored in self.by_item.values() for interest, _ in stored.values()})

    def set_vectors(self, texts: list[str], vectors: np.ndarray) -> None:
        self.vectors.update(zip(texts, vectors))

    def lookup(self, user_interests: list[str], item_id: str) -> Found | None:
        stored = self.by_item.get(item_id, {})
        for interest in user_interests:
            hit = stored.get(normalise(interest))
            if hit is not None:
                return Found(hit[1], hit[0], 1.0, INTEREST)
        if stored and user_interests and self.match_similarity < 1.0:
            keys = sorted(stored)
            sims = self._matrix([stored[k][0] for k in keys]) @ self._matrix(list(user_interests)).T
            best = np.unravel_index(int(np.argmax(sims)), sims.shape)
            if sims[best] >= self.match_similarity:
                interest, text = stored[keys[best[0]]]
                return Found(text, interest, float(sims[best]), INTEREST)
        text = self.item_only.get(item_id)
        return Found(text, "", 0.0, ITEM) if text is not None else None

    def _matrix(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in texts if t not in self.vectors]
        if missing:  # not prepared at start-up (a caller's own interests): embed once and keep
            from recgpt.embeddings import embed

            self.set_vectors(missing, embed(missing))
        return np.stack([self.vectors[t] for t in texts])

    def for_item(self, item_id: str, limit: int) -> list[tuple[str, str]]:
        """(interest, text) of the stored explanations of ``item_id``: item-only first, then by interest."""
        out = [("", self.item_only[item_id])] if item_id in self.item_only else []
        out += [self.by_item[item_id][k] for k in sorted(self.by_item.get(item_id, {}))]
        return out[:limit]

    def count(self) -> dict[str, int]:
        return {"interest_item": sum(len(v) for v in self.by_item.values()), "item_only": len(self.item_only),
                "items": len(set(self.by_item) | set(self.item_only))}
