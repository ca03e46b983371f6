"""The seral steps as functions of a run folder, shared by ``recgpt seral ...`` and tests.

    dataset = run_dataset(run, "amazon-office")      # RUN/data, loaded (and split) from the source when absent
    labels = write_truth(run, dataset, config)       # RUN/seral/truth.parquet
    profiles = write_profiles(run, dataset, config)  # RUN/seral/profiles.parquet
    evaluate_offline(run, dataset, config, ["popular-new.v1", "serengpt.v1"])   # RUN/seral/offline.json
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from recgpt.pipeline.artifacts import write_json
from recgpt.runfolder import RunFolder
from recgpt.seral.config import SeralConfig
from recgpt.seral.records import Candidate, CognitionProfile, SerendipityLabel, read_records, write_records


def run_dataset(run: RunFolder, source: str | None = None, path: str | None = None):
    """The run's canonical data set; when ``RUN/data`` is empty, ``source`` is loaded (with its split, or a
    leave-one-out split when it has none) and saved there first."""
    from recgpt.data.store import load_dataset, save_dataset

    if run.table("items").exists() or source is None:
        return load_dataset(run.data)
    from recgpt.data.loaders import load_source
    from recgpt.data.split import apply_split

    dataset = apply_split(load_source(source, path).validate())
    save_dataset(dataset, run.data)
    return dataset


def context_of(run: RunFolder | None, dataset, config: SeralConfig, backend=None):
    """The :class:`~recgpt.seral.scorers.ScorerContext` of a data set at the configured fold and granularity."""
    from recgpt.seral.scorers import ScorerContext
    from recgpt.seral.truth import item_categories
    from recgpt.stages.runner import popularity

    titles = dict(zip(dataset.items.column("item_id").to_pylist(), dataset.items.column("title").to_pylist()))
    return ScorerContext(item_categories(dataset.items, config.granularity), titles,
                         popularity(dataset, config.fold), config, run, backend)


def write_truth(run: RunFolder, dataset, config: SeralConfig) -> list[SerendipityLabel]:
    from recgpt.seral.truth import label_targets

    labels = label_targets(dataset, config.fold, config.granularity, config.behaviors)
    write_records(run.seral_truth, labels, SerendipityLabel)
    return labels


def write_profiles(run: RunFolder, dataset, config: SeralConfig) -> list[CognitionProfile]:
    from recgpt.seral.profiles import build_profiles, interests_by_user
    from recgpt.seral.truth import item_categories

    profiles = build_profiles(dataset, config.fold, item_categories(dataset.items, config.granularity),
                              config.profile, config.behaviors, interests_by_user(run.interests))
    write_records(run.seral_profiles, profiles, CognitionProfile)
    return profiles


def profiles_of(run: RunFolder, dataset, config: SeralConfig) -> dict[str, CognitionProfile]:
    """The profiles of this configuration, by user (rebuilt and written each time: a few seconds, and a table
    left by another granularity or fold is never read as this one's)."""
    return {p.user_id: p for p in write_profiles(run, dataset, config)}


def labels_of(run: RunFolder, dataset, config: SeralConfig) -> list[SerendipityLabel]:
    """The ground truth of this configuration (rebuilt and written each time, as :func:`profiles_of`)."""
    return write_truth(run, dataset, config)


def evaluate_offline(run: RunFolder, dataset, config: SeralConfig, scorers: list[str], backend=None) -> dict:
    """Hit@1 and NDCG@3 of each scorer on the candidate sets (written to RUN/seral/candidates.parquet) ->
    RUN/seral/offline.json: {"candidates": {...}, "scorers": {name: metrics}}. An LLM scorer with
    ``serengpt.adapter`` is named ``<scorer> + <the adapter's model folder>`` (the aligned SerenGPT beside the
    prompted one); the rows of an earlier evaluation on the very same candidate sets are kept."""
    from recgpt.seral.candidates import candidate_sets
    from recgpt.seral.evaluate import offline_metrics, rank_candidates
    from recgpt.seral.scorers import build_scorer

    profiles = profiles_of(run, dataset, config)
    context = context_of(run, dataset, config, backend)
    candidates = candidate_sets(labels_of(run, dataset, config), profiles, context.category, config.candidates)
    write_records(run.seral_candidates, candidates, Candidate)
    identity = hashlib.sha256(json.dumps([[c.user_id, c.item_id, c.is_target] for c in candidates]).encode())
    out = {"candidates": {"sets": len({c.user_id for c in candidates}), "size": config.candidates.size,
                          "granularity": config.granularity, "fold": config.fold,
                          "hash": identity.hexdigest()[:16]}, "scorers": {}}
    if run.seral_offline.exists():
        earlier = json.loads(run.seral_offline.read_text())
        if earlier.get("candidates") == out["candidates"]:
            out["scorers"] = earlier.get("scorers", {})
    for name in scorers:
        scorer = build_scorer(name, context)
        try:
            metrics = offline_metrics(candidates, rank_candidates(scorer, candidates, profiles))
        finally:
            getattr(scorer, "close", lambda: None)()
        label = scorer.name
        if config.serengpt.adapter and scorer.name.startswith("serengpt"):
            metrics["adapter"] = config.serengpt.adapter
            label = f"{scorer.name} + {Path(config.serengpt.adapter).resolve().parent.name}"
        out["scorers"][label] = metrics
    write_json(run.seral_offline, out)
    return out


def write_pairs(run: RunFolder, dataset, config: SeralConfig) -> dict:
    """SerenGPT's preference pairs (logs, collaborative, and human labels of RUN/judge/buffer.sqlite) ->
    RUN/seral/pairs.parquet; their counts by kind and split."""
    from collections import Counter

    from recgpt.seral.pairs import build_pairs
    from recgpt.seral.records import PreferencePair

    pairs, profiles = build_pairs(dataset, config, run.judge_buffer)
    write_records(run.seral_pairs, pairs, PreferencePair)
    return {"pairs": len(pairs), "users": len({p.user_id for p in pairs}), "profiles": len(profiles),
            "by_kind": dict(Counter(p.kind for p in pairs)), "by_split": dict(Counter(p.split for p in pairs))}


def train_serengpt(run: RunFolder, dataset, config: SeralConfig, name: str = "serengpt-ipo"):
    """IPO of SerenGPT on RUN/seral/pairs.parquet (built when absent), rendered with SerenGPT's own prompt at
    the pairs' fold: ``steps x batch_size`` seeded training rows, ``heldout_rows`` held-out rows ->
    RUN/seral/models/<name>/ (adapter/, manifest.json)."""
    import numpy as np

    from recgpt.seral.ipo import train_ipo
    from recgpt.seral.pairs import dpo_rows
    from recgpt.seral.profiles import build_profiles
    from recgpt.seral.records import PreferencePair
    from recgpt.seral.serengpt import SerenGPTScorer

    if not run.seral_pairs.exists():
        write_pairs(run, dataset, config)
    pairs = read_records(run.seral_pairs, PreferencePair)
    context = context_of(run, dataset, config)
    profiles = {p.user_id: p for p in build_profiles(dataset, config.pairs.fold, context.category, config.profile,
                                                     config.behaviors, users=sorted({p.user_id for p in pairs}))}
    render = SerenGPTScorer(context).render
    rng = np.random.default_rng(config.ipo.seed)
    train = [pairs[j] for j in rng.permutation(len(pairs)) if pairs[j].split == "train"]
    held = [pairs[j] for j in rng.permutation(len(pairs)) if pairs[j].split == "heldout"]
    rows = dpo_rows(train[: (config.ipo.steps * config.ipo.batch_size + 1) // 2], profiles, render, context.category)
    heldout = dpo_rows(held[: (config.ipo.heldout_rows + 1) // 2], profiles, render, context.category, split=None)
    return train_ipo(rows, run.seral_model(name), config.ipo, heldout=heldout or None)


def base_lists(dataset, config: SeralConfig, users: list[str]) -> dict[str, list[str]]:
    """The base retriever's lists (``list_size + quota`` items, history excluded), fitted on train (+ dev for
    the test fold, as the evaluation protocol has it)."""
    from recgpt import registry

    fitted = dataset.train_plus_dev() if config.fold == "test" else dataset
    model = registry.retrievers.get(config.channel.base)().fit(fitted, config.fold)
    recs = model.recommend(users, k=config.channel.list_size + config.channel.quota)
    return {u: [i for i in row if i] for u, row in zip(recs.user_ids, recs.item_ids)}


def tag_retrieval(run: RunFolder, users: list[str], k: int) -> dict[str, list[str]]:
    """User -> the top ``k`` items of tags-only retrieval (the run's trained retriever at beta 0, queried by the
    run's passing tags, else the titles of the user's last items); {} when the run has no trained retriever."""
    from recgpt.retrieval.saved import SAVED_MODEL, load_model

    if not (run.retriever / SAVED_MODEL).exists():
        return {}
    from recgpt.retrieval.fusion import load_tag_table

    model = load_model(run.retriever)
    tags = load_tag_table(run.tags) if run.tags.exists() else None
    recs = model.recommend(users, k=k, tags=tags, beta=0.0)
    return {u: [i for i in row if i] for u, row in zip(recs.user_ids, recs.item_ids)}


#: the seral settings that give the channel's profile versions and final lists (recorded in channel.json, so
#: that ``recgpt serve`` judges staleness and fills the reserved slots as the batch job did)
SERVED_SETTINGS = {"granularity", "fold", "behaviors", "profile", "channel"}


def served_settings(config: SeralConfig) -> dict:
    """The part of ``config`` the served channel needs (no LLM settings): a valid ``seral`` block by itself."""
    return config.model_dump(mode="json", include=SERVED_SETTINGS)


def run_channel(run: RunFolder, dataset, config: SeralConfig, backend=None) -> dict:
    """The nearline batch job and the final lists of the labelled users -> RUN/seral/judgments.sqlite,
    RUN/seral/channel.parquet and RUN/seral/channel.json (with vs without the channel; ``config``: the
    :func:`served_settings` that ``recgpt serve`` follows)."""
    from recgpt.seral.candidates import items_by_category, sample_users
    from recgpt.seral.channel import CandidatePool, JudgmentCache, channel_metrics, final_lists, refresh
    from recgpt.seral.records import ChannelSlot
    from recgpt.seral.scorers import build_scorer

    channel = config.channel
    profiles = profiles_of(run, dataset, config)
    labels = [lab for lab in labels_of(run, dataset, config) if lab.user_id in profiles]
    users = sample_users([lab.user_id for lab in labels], channel.max_users, channel.seed)
    context = context_of(run, dataset, config, backend)
    pool = CandidatePool(items_by_category(context.category), context.popularity)
    retrieved = tag_retrieval(run, users, channel.per_user * 5)
    tag_limit = int(round(channel.tag_share * channel.per_user)) if retrieved else 0
    scorer = build_scorer(channel.scorer, context)
    cache = JudgmentCache(run.seral_judgments)
    try:
        stats = refresh(cache, [profiles[u] for u in users], scorer,
                        lambda p: pool.of(p, channel.per_user, retrieved.get(p.user_id, []), tag_limit))
        judged = {u: cache.judgments(u, scorer.name) for u in users}
    finally:
        cache.close()
        getattr(scorer, "close", lambda: None)()
    base = base_lists(dataset, config, users)
    slots = final_lists(base, judged, channel)
    write_records(run.seral_channel, slots, ChannelSlot)
    chosen = set(users)
    out = {"scorer": scorer.name, "base": channel.base, "quota": channel.quota, "list_size": channel.list_size,
           "tag_retrieval": bool(retrieved), "config": served_settings(config),
           "refresh": stats, **channel_metrics(slots, base, [lab for lab in labels if lab.user_id in chosen],
                                                profiles, context.category, channel.list_size)}
    write_json(run.seral_channel_metrics, out)
    return out
