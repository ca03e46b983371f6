"""Offline evaluation of serendipity scorers: Hit@1 and NDCG@3 of the real serendipitous next item in its
candidate set (SERAL's offline protocol), with ties counted as a random order would place them.

A scorer that gives the real item score s, with ``above`` candidates scoring more than s and ``tied`` others
scoring exactly s, puts it at each rank ``above .. above + tied`` with probability ``1 / (tied + 1)``:
Hit@1 is ``1 / (tied + 1)`` when ``above == 0``, NDCG@K the mean of ``1 / log2(rank + 2)`` over those ranks
below K. So a constant scorer earns chance level, never luck from the candidate order.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from recgpt.seral.records import Candidate, CognitionProfile, Judgment


def expected_hit_ndcg(target: float, others: list[float], k: int = 3) -> tuple[float, float]:
    """(expected Hit@1, expected NDCG@k) of a target scored ``target`` among ``others``."""
    above = sum(o > target for o in others)
    tied = sum(o == target for o in others)
    ranks = range(above, above + tied + 1)
    hit = sum(r == 0 for r in ranks) / (tied + 1)
    ndcg = sum(1.0 / math.log2(r + 2) for r in ranks if r < k) / (tied + 1)
    return hit, ndcg


def rank_candidates(scorer, candidates: list[Candidate], profiles: dict[str, CognitionProfile]) -> list[Judgment]:
    """The scorer's judgment of every candidate row, in order (one batch)."""
    return scorer.score([(profiles[c.user_id], c.item_id) for c in candidates])


def offline_metrics(candidates: list[Candidate], judgments: list[Judgment], k: int = 3) -> dict[str, float]:
    """{"users", "hit@1", "ndcg@<k>", "hit@1_ci95", "ndcg@<k>_ci95", "yes_share"} over the candidate sets."""
    sets: dict[str, list[tuple[bool, float]]] = defaultdict(list)
    for c, j in zip(candidates, judgments):
        sets[c.user_id].append((c.is_target, j.score))
    hits, ndcgs = [], []
    for rows in sets.values():
        target = [s for t, s in rows if t]
        if len(target) != 1:
            continue
        hit, ndcg = expected_hit_ndcg(target[0], [s for t, s in rows if not t], k)
        hits.append(hit)
        ndcgs.append(ndcg)
    n = len(hits)
    out = {"users": n, "hit@1": float(np.mean(hits)) if n else 0.0,
           f"ndcg@{k}": float(np.mean(ndcgs)) if n else 0.0,
           "yes_share": float(np.mean([j.verdict == "yes" for j in judgments])) if judgments else 0.0}
    out["hit@1_ci95"] = 1.96 * float(np.std(hits, ddof=1)) / math.sqrt(n) if n > 1 else 0.0
    out[f"ndcg@{k}_ci95"] = 1.96 * float(np.std(ndcgs, ddof=1)) / math.sqrt(n) if n > 1 else 0.0
    return out
