"""Offline candidate sets (SERAL's offline evaluation): for each user whose held-out next item is
serendipitous, the real item plus ``size - 1`` other items of categories the user never touched (a share of
them from the profile's neighbouring categories, the rest from any other never-touched category), seeded per
user. A scorer ranks each set; Hit@1 and NDCG@3 say how often the real item comes first (see
:mod:`recgpt.seral.evaluate`).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from recgpt.seral.config import CandidatesConfig
from recgpt.seral.records import Candidate, CognitionProfile, SerendipityLabel
from recgpt.seral.scorers import stable_seed


def items_by_category(category: dict[str, str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for item, cat in sorted(category.items()):
        out[cat].append(item)
    return dict(out)


def sample_users(users: list[str], limit: int | None, seed: int) -> list[str]:
    """A seeded sample of ``limit`` users (all when None), in the input order."""
    if limit is None or limit >= len(users):
        return list(users)
    keep = set(np.random.default_rng(seed).choice(len(users), size=limit, replace=False).tolist())
    return [u for i, u in enumerate(users) if i in keep]


def new_items(profile: CognitionProfile, by_category: dict[str, list[str]], exclude: set[str],
              neighbours_only: bool) -> list[str]:
    """Items of never-touched categories (only the profile's neighbours when ``neighbours_only``)."""
    familiar = set(profile.familiar)
    cats = profile.neighbours if neighbours_only else [c for c in by_category if c not in familiar]
    return [i for c in cats for i in by_category.get(c, []) if i not in exclude]


def candidate_sets(labels: list[SerendipityLabel], profiles: dict[str, CognitionProfile],
                   category: dict[str, str], config: CandidatesConfig) -> list[Candidate]:
    """The candidate rows of every serendipitous label's user (target first, then the others shuffled)."""
    by_category = items_by_category(category)
    chosen = sample_users([lab.user_id for lab in labels if lab.serendipitous and lab.user_id in profiles],
                          config.max_users, config.seed)
    target = {lab.user_id: lab.item_id for lab in labels}
    out: list[Candidate] = []
    for user in chosen:
        profile, item = profiles[user], target[user]
        rng = np.random.default_rng(stable_seed(config.seed, user))
        others = config.size - 1
        near = new_items(profile, by_category, {item}, neighbours_only=True)
        take_near = min(len(near), int(round(config.neighbour_share * others)))
        picked = [near[j] for j in rng.choice(len(near), size=take_near, replace=False)] if take_near else []
        rest = [i for i in new_items(profile, by_category, {item, *picked}, neighbours_only=False)]
        take_rest = min(len(rest), others - take_near)
        if take_rest:
            picked += [rest[j] for j in rng.choice(len(rest), size=take_rest, replace=False)]
        if not picked:
            continue
        near_set = set(near)
        out.append(Candidate(user, item, category[item], "target", True))
        out += [Candidate(user, i, category[i], "neighbour" if i in near_set else "new", False) for i in picked]
    return out
