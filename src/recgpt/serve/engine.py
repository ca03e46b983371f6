"""Fused retrieval for serving (report 2.3.3), with everything per-user-static computed once.

:class:`Engine` answers what :meth:`TARRecommender.recommend` answers (same vectors, same fusion
``h = beta h_user + (1 - beta) h_tag`` per tag, same round-robin merge of the per-tag lists, same history
exclusion), and also says which query retrieved each item. Per user it keeps a :class:`UserPlan` (the user
vector, the tags with their vectors and provenance, the history to exclude), so a request costs one index
search and a merge. Tag vectors of every catalog title (the item-title tags) are computed once.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import torch

from recgpt.retrieval.fusion import fuse, round_robin, title_tags
from recgpt.retrieval.train import left_pad

#: Where a tag came from: the LLM stages (``llm``) or the titles of the user's last items (``item_titles``).
LLM, TITLES, NONE = "llm", "item_titles", "none"


@dataclass(frozen=True)
class TagRef:
    """One query tag of a user: its text, the interest it was predicted for and phi's category (LLM tags)."""

    text: str
    source: str  # LLM or TITLES
    interest: str | None = None
    category: str | None = None


@dataclass
class UserPlan:
    """What does not change between two requests for one user (given the run).

    h_user (d,) float32; tags and h_tags (len(tags), d) float32 in the same order; history (n,) int64 catalog
    positions (excluded when asked); tag_source LLM, TITLES or NONE (no tag at all: empty history, no LLM tags).
    """

    user_id: str
    h_user: np.ndarray
    tags: list[TagRef]
    h_tags: np.ndarray
    history: np.ndarray
    tag_source: str
    known: bool = True


@dataclass
class Ranked:
    """One user's list: catalog positions (k,) int64 (-1 pads), scores (k,), and for each slot the index of
    the tag whose query retrieved it (-1: the collaborative query, when beta = 1 or the user has no tag)."""

    positions: np.ndarray
    scores: np.ndarray
    via: np.ndarray


@dataclass
class Engine:
    """The loaded retriever (a fitted TARRecommender), its index searcher and per-user plans.

    ``searcher(queries (n, d), depth) -> (scores (n, depth), positions (n, depth))``; ``llm_tags`` maps user
    id -> its passed LLM tags as :class:`TagRef`; ``cache_size`` bounds the plan cache (LRU).
    """

    model: object
    searcher: object
    llm_tags: dict[str, list[TagRef]]
    cache_size: int = 100_000
    stats: dict[str, int] = field(default_factory=lambda: {"hit": 0, "miss": 0})

    def __post_init__(self) -> None:
        self.catalog = self.model.catalog
        self.dim = int(self.model.config.dim)
        self.fusion_tags = int(self.model.config.fusion_tags)
        self.max_len = int(self.model.config.max_len)
        self.h_items = torch.from_numpy(self.model.item_vectors())
        self.train_row = {u: r + 1 for r, u in enumerate(self.model.train_users)}
        self._plans: OrderedDict[str, UserPlan] = OrderedDict()
        self._tag_vectors: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ tag vectors
    def add_tag_vectors(self, texts: list[str], vectors: np.ndarray) -> None:
        """Known h_t (len(texts), d) for tag texts (from the start-up cache)."""
        self._tag_vectors.update(zip(texts, vectors))

    def tag_texts_needed(self) -> list[str]:
        """Every tag text a known user can query with: the catalog titles and the LLM tags."""
        texts = [t for t in self.catalog.titles if t]
        texts += [t.text for refs in self.llm_tags.values() for t in refs]
        return list(dict.fromkeys(texts))

    def tag_vectors(self, texts: list[str]) -> np.ndarray:
        """h_t (len(texts), d), computed (and kept) for texts not seen before."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._tag_vectors))
        if missing:
            self._tag_vectors.update(zip(missing, self.model.tag_vectors(missing)))
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self._tag_vectors[t] for t in texts]).astype(np.float32, copy=False)

    # ------------------------------------------------------------------ plans
    @torch.no_grad()
    def sequence_vectors(self, sequences: list[tuple[np.ndarray, np.ndarray]], rows: list[int]) -> np.ndarray:
        """h_u after each (items, behaviors) sequence of catalog positions and behavior codes, (n, d) float32;
        ``rows`` are user-id rows of the training users (0: unknown). Same computation as
        ``TARRecommender.user_vectors``."""
        width = max(1, min(self.max_len, max((len(s) for s, _ in sequences), default=1)))
        items = left_pad([s for s, _ in sequences], width, len(self.catalog))
        behaviors = left_pad([b for _, b in sequences], width, 0)
        out = self.model.net.user(torch.tensor(rows, dtype=torch.long), items, behaviors, self.h_items)
        return out[:, -1].numpy().astype(np.float32)

    def make_plans(self, user_ids: list[str], sequences: list[tuple[np.ndarray, np.ndarray]],
                   use_llm_tags: bool = True) -> list[UserPlan]:
        """Plans for users with the given histories (not cached): LLM tags where the user has them, else the
        titles of the last ``fusion_tags`` distinct items."""
        rows = [self.train_row.get(u, 0) for u in user_ids]
        h_users = self.sequence_vectors(sequences, rows) if user_ids else np.zeros((0, self.dim), np.float32)
        plans = []
        for user, (items, _), h_user in zip(user_ids, sequences, h_users):
            refs = self.llm_tags.get(user, []) if use_llm_tags else []
            source = LLM if refs else TITLES
            if not refs:
                refs = [TagRef(t, TITLES) for t in title_tags(items, self.catalog.titles, self.fusion_tags)]
                source = TITLES if refs else NONE
            plans.append(UserPlan(user, h_user, refs, self.tag_vectors([r.text for r in refs]),
                                  np.unique(items), source, user in self.model.history.row))
        return plans

    def plans(self, user_ids: list[str]) -> list[UserPlan]:
        """Cached plans of run users (history = the run's visible history)."""
        out: dict[str, UserPlan] = {}
        missing = []
        for user in user_ids:
            plan = self._plans.get(user)
            if plan is None:
                missing.append(user)
            else:
                self._plans.move_to_end(user)
                out[user] = plan
        self.stats["hit"] += len(user_ids) - len(missing)
        self.stats["miss"] += len(missing)
        if missing:
            missing = list(dict.fromkeys(missing))
            for plan in self.make_plans(missing, [self.model.history.get(u) for u in missing]):
                out[plan.user_id] = plan
                self._remember(plan)
        return [out[u] for u in user_ids]

    def warm(self, user_ids: list[str], batch_size: int = 1024) -> None:
        """Compute and cache the plans of ``user_ids`` in batches (start-up)."""
        for start in range(0, len(user_ids), batch_size):
            batch = user_ids[start : start + batch_size]
            for plan in self.make_plans(batch, [self.model.history.get(u) for u in batch]):
                self._remember(plan)

    def _remember(self, plan: UserPlan) -> None:
        if self.cache_size <= 0:
            return
        self._plans[plan.user_id] = plan
        self._plans.move_to_end(plan.user_id)
        while len(self._plans) > self.cache_size:
            self._plans.popitem(last=False)

    @property
    def cached_users(self) -> int:
        return len(self._plans)

    # ------------------------------------------------------------------ ranking
    def rank(self, plans: list[UserPlan], k: int, beta: float, exclude_history: bool = True) -> list[Ranked]:
        """Top-``k`` per plan: one index search over every query of every plan, then the round-robin merge of
        :func:`recgpt.retrieval.fusion.round_robin` per user; each slot's retrieving query is recovered from
        the per-query lists (the merge takes item and score from one of them)."""
        queries, owner = [], []
        for n, plan in enumerate(plans):
            q = fuse(plan.h_user, plan.h_tags, beta)
            queries.append(q)
            owner.extend([n] * len(q))
        if not plans:
            return []
        queries = np.ascontiguousarray(np.concatenate(queries), dtype=np.float32)
        owner = np.asarray(owner)
        excluded = [p.history if exclude_history else np.zeros(0, np.int64) for p in plans]
        depth = min(k + max(len(e) for e in excluded), len(self.catalog))
        values, positions = self.searcher(queries, depth)
        out = []
        for n, plan in enumerate(plans):
            rows = np.flatnonzero(owner == n)
            lists, scores = positions[rows], values[rows]
            idx, val = round_robin(lists, scores, k, set(excluded[n].tolist()))
            tagged = len(plan.tags) > 0 and beta < 1.0
            via = np.full(k, -1, dtype=np.int64)
            if tagged:
                # (k, n_queries): the slot's item with the slot's score is in that query's list
                hit = ((lists[None] == idx[:, None, None]) & (scores[None] == val[:, None, None])).any(axis=2)
                found = hit.any(axis=1) & (idx >= 0)
                via[found] = hit[found].argmax(axis=1)
            out.append(Ranked(idx, val, via))
        return out
