"""SerenGPT's preference pairs (SERAL stage 2) from logs, enriched by a collaborative data intervention.

**From logs.** For each user whose next item of ``pairs.fold`` (dev by default, so the test fold stays
unseen) is serendipitous, that real item is *chosen* against ``new_per_chosen`` items of other never-touched
categories the user did not take (``new-not-taken``: new is not enough, it has to be the right new) and
``familiar_per_chosen`` unseen items of the user's familiar categories (``familiar``: relevant, but not
unexpected).

**Collaborative data intervention** (our design; the paper names the idea, not its recipe). Only a minority of
users has a serendipitous next item, so most profiles would never appear in training. Every user u borrows
from the ``collaborative_users`` most similar users d (Jaccard similarity of their touched-category sets,
among users with a serendipitous next item of their own): d's serendipitous item t_d becomes a chosen item
for u when its category is new to u too (unexpected for u), the similarity standing for relevance (users who
shop like u welcomed it). It is paired against a new-category item no donor took (``collaborative``, with
``donor`` = d). At most ``collaborative_per_user`` borrowed pairs per user.

Each pair becomes two training rows for the judge (:func:`dpo_rows`): on the chosen item's prompt the "yes"
answer is preferred to the "no" answer; on the rejected item's prompt the "no" answer is preferred.
"""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np

from recgpt.seral.config import PairsConfig
from recgpt.seral.records import CognitionProfile, PreferencePair, SerendipityLabel
from recgpt.seral.scorers import stable_seed


def _pick(rng, pool: list[str], n: int) -> list[str]:
    if n <= 0 or not pool:
        return []
    return [pool[j] for j in rng.choice(len(pool), size=min(n, len(pool)), replace=False)]


def log_pairs(labels: list[SerendipityLabel], profiles: dict[str, CognitionProfile], category: dict[str, str],
              history: dict[str, list[str]], config: PairsConfig) -> list[PreferencePair]:
    """Pairs of the users whose labelled next item is serendipitous (chosen: that item)."""
    from recgpt.seral.candidates import items_by_category

    by_category = items_by_category(category)
    out = []
    for label in labels:
        if not label.serendipitous or label.user_id not in profiles:
            continue
        profile = profiles[label.user_id]
        rng = np.random.default_rng(stable_seed(config.seed, "log", label.user_id))
        familiar, seen = set(profile.familiar), set(history.get(label.user_id, []))
        new = [i for c, items in by_category.items() if c not in familiar and c != label.category for i in items]
        known = [i for c in profile.familiar for i in by_category.get(c, []) if i not in seen]
        out += [PreferencePair(label.user_id, label.item_id, r, "new-not-taken")
                for r in _pick(rng, new, config.new_per_chosen)]
        out += [PreferencePair(label.user_id, label.item_id, r, "familiar")
                for r in _pick(rng, known, config.familiar_per_chosen)]
    return out


def collaborative_pairs(labels: list[SerendipityLabel], profiles: dict[str, CognitionProfile],
                        category: dict[str, str], config: PairsConfig) -> list[PreferencePair]:
    """The collaborative data intervention described in the module docstring."""
    from recgpt.seral.candidates import items_by_category

    if config.collaborative_users == 0 or config.collaborative_per_user == 0:
        return []
    donors = [lab for lab in labels if lab.serendipitous and lab.user_id in profiles]
    if not donors:
        return []
    names = sorted({c for p in profiles.values() for c in p.familiar} | set(category.values()))
    index = {c: j for j, c in enumerate(names)}

    def matrix(cat_sets: list[list[str]]) -> np.ndarray:
        m = np.zeros((len(cat_sets), len(names)), dtype=np.float32)
        for r, cats in enumerate(cat_sets):
            m[r, [index[c] for c in cats]] = 1.0
        return m

    users = sorted(profiles)
    mu = matrix([profiles[u].familiar for u in users])
    md = matrix([profiles[d.user_id].familiar for d in donors])
    inter = mu @ md.T
    union = mu.sum(1)[:, None] + md.sum(1)[None, :] - inter
    sim = np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)
    donor_items = {d.item_id for d in donors}
    by_category = items_by_category(category)
    out = []
    for r, user in enumerate(users):
        familiar = set(profiles[user].familiar)
        rng = np.random.default_rng(stable_seed(config.seed, "collab", user))
        taken = 0
        for j in np.argsort(-sim[r], kind="stable")[: config.collaborative_users + 1]:
            donor = donors[j]
            if taken >= config.collaborative_per_user or sim[r, j] <= 0:
                break
            if donor.user_id == user or donor.category in familiar:
                continue
            pool = [i for c, items in by_category.items() if c not in familiar and c != donor.category
                    for i in items if i not in donor_items]
            rejected = _pick(rng, pool, 1)
            if rejected:
                out.append(PreferencePair(user, donor.item_id, rejected[0], "collaborative", donor=donor.user_id))
                taken += 1
    return out


_KEY = re.compile(r"^user (?P<user>.+) item (?P<item>\S+) #")


def human_pairs(buffer_path, rubric_version: str = "v1") -> list[PreferencePair]:
    """Pairs from people's labels of the serendipity task in the labelling page (``recgpt judge serve --task
    serendipity``): an item whose every criterion a person passed is chosen against each item of the same
    user that a person failed on some criterion (``kind`` human). The latest round's label wins."""
    from pathlib import Path

    from recgpt.judge.buffer import JudgeBuffer
    from recgpt.judge.rubric import load_rubric

    if buffer_path is None or not Path(buffer_path).exists():
        return []
    criteria = set(load_rubric("serendipity", rubric_version).criterion_names)
    latest: dict[tuple[str, str], tuple[int, bool]] = {}
    buffer = JudgeBuffer(buffer_path)
    try:
        for v in buffer.verdicts(task="serendipity", source="human"):
            if v.criterion in criteria:
                key = (v.item_key, v.criterion)
                if key not in latest or v.round >= latest[key][0]:
                    latest[key] = (v.round, v.passed)
    finally:
        buffer.close()
    verdicts: dict[str, dict[str, bool]] = defaultdict(dict)
    for (item_key, criterion), (_, passed) in latest.items():
        verdicts[item_key][criterion] = passed
    good: dict[str, list[str]] = defaultdict(list)
    bad: dict[str, list[str]] = defaultdict(list)
    for item_key, by_criterion in sorted(verdicts.items()):
        match = _KEY.match(item_key)
        if match is None or set(by_criterion) != criteria:
            continue  # not a seral candidate, or not every criterion labelled
        (good if all(by_criterion.values()) else bad)[match["user"]].append(match["item"])
    return [PreferencePair(user, chosen, rejected, "human") for user in sorted(good)
            for chosen in good[user] for rejected in bad.get(user, [])]


def split_pairs(pairs: list[PreferencePair], config: PairsConfig) -> list[PreferencePair]:
    """``split`` = heldout for a seeded ``heldout_share`` of users (all their pairs), train otherwise."""
    for pair in pairs:
        held = stable_seed(config.seed, "split", pair.user_id) / 2**32 < config.heldout_share
        pair.split = "heldout" if held else "train"
    return pairs


def build_pairs(dataset, config, buffer_path=None) -> tuple[list[PreferencePair], dict[str, CognitionProfile]]:
    """(pairs, the profiles at ``config.pairs.fold`` they were built on) for a
    :class:`~recgpt.seral.config.SeralConfig`: log pairs, collaborative ones, then the human ones of the judge
    buffer ``buffer_path`` (when given; their users' profiles are added)."""
    from recgpt.seral.candidates import sample_users
    from recgpt.seral.profiles import build_profiles
    from recgpt.seral.truth import UserHistory, item_categories, label_targets

    pairs_config = config.pairs
    category = item_categories(dataset.items, config.granularity)
    history = UserHistory.of(dataset, pairs_config.fold, config.behaviors).items
    keep = set(sample_users(sorted(history), pairs_config.max_users, pairs_config.seed))
    labels = [lab for lab in label_targets(dataset, pairs_config.fold, config.granularity, config.behaviors)
              if lab.user_id in keep]
    profiles = {p.user_id: p for p in build_profiles(dataset, pairs_config.fold, category, config.profile,
                                                     config.behaviors, users=sorted(keep))}
    pairs = log_pairs(labels, profiles, category, history, pairs_config)
    pairs += collaborative_pairs(labels, profiles, category, pairs_config)
    human = human_pairs(buffer_path, config.serengpt.rubric_version)
    missing = sorted({p.user_id for p in human} - set(profiles))
    if missing:
        profiles.update({p.user_id: p for p in build_profiles(dataset, pairs_config.fold, category, config.profile,
                                                              config.behaviors, users=missing)})
    pairs += [p for p in human if p.user_id in profiles]
    return split_pairs(pairs, pairs_config), profiles


def reasons(category: str, verdict: str, kind: str) -> str:
    """The reason a training answer gives (short, from the facts the pair was built on)."""
    if verdict == "yes":
        return f"{category} is new to the user and fits their interests"[:120]
    if kind == "familiar":
        return f"the user already buys {category}"[:120]
    return f"{category} is new but unrelated to the user"[:120]


def dpo_rows(pairs: list[PreferencePair], profiles: dict[str, CognitionProfile], render, category: dict[str, str],
             split: str | None = "train") -> list[dict]:
    """Conversational preference rows ``{"prompt": [user message], "chosen": [assistant], "rejected": [...]}``,
    two per pair (see the module docstring); ``render(profile, item)`` is SerenGPT's prompt."""
    from recgpt.seral.serengpt import answer_text

    rows = []
    for pair in pairs:
        if split is not None and pair.split != split:
            continue
        profile = profiles[pair.user_id]
        for item, good in ((pair.chosen_item, "yes"), (pair.rejected_item, "no")):
            bad = "no" if good == "yes" else "yes"
            cat = category.get(item, "unknown")
            def answer(verdict: str) -> list[dict[str, str]]:
                return [{"role": "assistant", "content": answer_text(verdict, reasons(cat, verdict, pair.kind))}]

            rows.append({"prompt": [{"role": "user", "content": render(profile, item)}], "chosen": answer(good),
                         "rejected": answer(bad)})
    return rows
