"""The seral steps as functions of a run folder, shared by ``recgpt seral ...`` and tests.

    dataset = run_dataset(run, "amazon-office")      # RUN/data, loaded (and split) from the source when absent
    labels = write_truth(run, dataset, config)       # RUN/seral/truth.parquet
    profiles = write_profiles(run, dataset, config)  # RUN/seral/profiles.parquet
    evaluate_offline(run, dataset, config, ["popular-new.v1", "serengpt.v1"])   # RUN/seral/offline.json
"""

from __future__ import annotations

import json
from pathlib import Path

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
    """The run's profiles (built and written when absent), by user."""
    profiles = (read_records(run.seral_profiles, CognitionProfile) if run.seral_profiles.exists()
                else write_profiles(run, dataset, config))
    return {p.user_id: p for p in profiles}


def labels_of(run: RunFolder, dataset, config: SeralConfig) -> list[SerendipityLabel]:
    return (read_records(run.seral_truth, SerendipityLabel) if run.seral_truth.exists()
            else write_truth(run, dataset, config))


def evaluate_offline(run: RunFolder, dataset, config: SeralConfig, scorers: list[str], backend=None) -> dict:
    """Hit@1 and NDCG@3 of each scorer on the candidate sets (written to RUN/seral/candidates.parquet) ->
    RUN/seral/offline.json: {"candidates": {...}, "scorers": {name: metrics}}."""
    from recgpt.seral.candidates import candidate_sets
    from recgpt.seral.evaluate import offline_metrics, rank_candidates
    from recgpt.seral.scorers import build_scorer

    profiles = profiles_of(run, dataset, config)
    context = context_of(run, dataset, config, backend)
    candidates = candidate_sets(labels_of(run, dataset, config), profiles, context.category, config.candidates)
    write_records(run.seral_candidates, candidates, Candidate)
    out = {"candidates": {"sets": len({c.user_id for c in candidates}), "size": config.candidates.size,
                          "granularity": config.granularity, "fold": config.fold}, "scorers": {}}
    for name in scorers:
        scorer = build_scorer(name, context)
        try:
            out["scorers"][scorer.name] = offline_metrics(candidates, rank_candidates(scorer, candidates, profiles))
        finally:
            getattr(scorer, "close", lambda: None)()
        if config.serengpt.adapter and scorer.name.startswith("serengpt"):
            out["scorers"][scorer.name]["adapter"] = config.serengpt.adapter
    write_json(run.seral_offline, out)
    return out


def write_json(path: Path, value) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1) + "\n")
    return path
