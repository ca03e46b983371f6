"""Stage functions that need no LLM: load data, draw the user sample, compress behavior, train phi and the
retriever. Each takes a :class:`~recgpt.pipeline.engine.StageContext` and returns a small summary dict; tables
go to the places :class:`~recgpt.runfolder.RunFolder` names.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recgpt.data.dataset import DataValidationError
from recgpt.pipeline.artifacts import read_json, write_json
from recgpt.pipeline.engine import StageContext


def dataset_of(ctx: StageContext):
    """The run's canonical dataset, loaded once per process from ``RUN/data``."""
    if "dataset" not in ctx.shared:
        from recgpt.data.store import load_dataset

        ctx.shared["dataset"] = load_dataset(ctx.run.data)
    return ctx.shared["dataset"]


def sample_of(ctx: StageContext) -> list[str]:
    return read_json(ctx.run.sample)["users"]


def subset_users(dataset, max_users: int, seed: int):
    """A seeded subset of ``max_users`` users with all their rows, and the items those rows touch."""
    from recgpt.data.dataset import Dataset

    users = sorted(set(dataset.events.column("user_id").to_pylist()))
    rng = np.random.default_rng(seed)
    keep = sorted(rng.choice(users, size=min(max_users, len(users)), replace=False).tolist())
    value_set = pa.array(keep)

    def only(table: pa.Table) -> pa.Table:
        return table.filter(pc.is_in(table.column("user_id"), value_set=value_set))

    events, holdout = only(dataset.events), only(dataset.holdout)
    touched = pa.array(sorted(set(events.column("item_id").to_pylist()) | set(holdout.column("item_id").to_pylist())))
    items = dataset.items.filter(pc.is_in(dataset.items.column("item_id"), value_set=touched))
    return Dataset(dataset.name, items, only(dataset.users), events, only(dataset.searches), holdout)


# ---------------------------------------------------------------------------------------------- stages
def stage_data(ctx: StageContext) -> dict:
    """Load the configured source, validate it, optionally subset users, save to ``RUN/data``."""
    from recgpt.data.loaders import load_source
    from recgpt.data.store import save_dataset

    cfg = ctx.config.data
    from recgpt.data.split import apply_split

    dataset = apply_split(load_source(cfg.source, cfg.path).validate(), cfg.split, cfg.split_min_events)
    if cfg.max_users is not None:
        dataset = subset_users(dataset, cfg.max_users, cfg.seed).validate()
    save_dataset(dataset, ctx.run.data)
    ctx.shared["dataset"] = dataset
    return {"items": dataset.items.num_rows, "users": dataset.users.num_rows, "events": dataset.events.num_rows,
            "searches": dataset.searches.num_rows, "holdout": dataset.holdout.num_rows}


def check_memory(ctx: StageContext) -> None:
    """Pre-flight, right after the data stage: the classic baseline (with the largest settings its tuning grid
    tries) must fit in ``evaluation.memory_gb`` or the memory available now; else a clear error before any slow
    stage (:class:`recgpt.retrieval.memory.MemoryBudgetError`, naming a scalable alternative)."""
    from recgpt.retrieval.memory import check_fits

    cfg = ctx.config.evaluation
    n_items = dataset_of(ctx).items.num_rows
    check_fits(cfg.classic, n_items, cfg.largest_classic_options(), cfg.memory_gb,
               what="the classic baseline (evaluation.classic)")


def stage_sample(ctx: StageContext) -> dict:
    """The seeded sample of test users the LLM stages and the headline comparison run on."""
    from recgpt.stages.context import sample_users

    dataset = dataset_of(ctx)
    test_users = sample_users(dataset, None, 0, "test")
    if not test_users:
        raise DataValidationError("the data set has no test holdout rows: the evaluation needs a leave-one-out split")
    cfg = ctx.config.evaluation
    users = sample_users(dataset, cfg.sample_users, cfg.seed, "test")  # the same draw as the stages area's
    write_json(ctx.run.sample, {"seed": cfg.seed, "requested": cfg.sample_users, "users": users})
    return {"sample_users": len(users), "test_users": len(test_users)}


def stage_phi(ctx: StageContext) -> dict:
    """Train the tag-to-category model on item titles and categories; save it to ``RUN/phi``."""
    from recgpt.stages.runner import ensure_phi

    phi = ensure_phi(ctx.run, dataset_of(ctx), ctx.config.phi, retrain=True)
    report = phi.report.as_dict() if phi.report else {}
    return {k: v for k, v in report.items() if v is not None}


def stage_retriever(ctx: StageContext) -> dict:
    """Train the user-item-tag retriever (early-stopped on dev) and save it to ``RUN/retriever``; a killed
    training resumes after its last finished epoch (``RUN/retriever/checkpoint.pt``). With
    ``retriever_search.enabled`` the saved model is the best of a search on dev (``RUN/retriever/search.json``)."""
    from recgpt.retrieval.tar import TARRecommender

    run = ctx.run
    search = ctx.config.retriever_search
    (run.retriever / "search.json").unlink(missing_ok=True)
    if search.enabled:  # recgpt run --tune-retriever: the best of an Optuna search on dev
        from recgpt.retrieval.search import search_retriever

        result = search_retriever(dataset_of(ctx), ctx.config.retriever, search)
        model = result.model
        model.save(run.retriever)
        write_json(run.retriever / "search.json", result.summary())
        return {"trials": len(result.trials), "base_dev": round(result.base_dev, 4),
                "best_dev": round(result.best_dev, 4), **{k: v for k, v in result.chosen().items()}}
    model = TARRecommender(ctx.config.retriever).fit(dataset_of(ctx), "dev", checkpoint=run.retriever_checkpoint)
    model.save(run.retriever)
    log = model.training_log
    last = log[-1] if log else {}
    return {"epochs_run": len(log), **{k: v for k, v in last.items() if isinstance(v, (int, float))}}


def stage_behavior(ctx: StageContext) -> dict:
    """Reliable behavior extraction and hierarchical compression for every user (report 2.1.1)."""
    from recgpt.behavior.compression import compress_users

    table = compress_users(dataset_of(ctx), ctx.config.compression)
    pq.write_table(table, ctx.run.compressed)
    tokens = table.column("n_tokens").to_pylist()
    dropped = table.column("dropped_events").to_pylist()
    return {"users": table.num_rows, "mean_tokens": round(float(np.mean(tokens)), 1) if tokens else 0,
            "max_tokens": int(max(tokens, default=0)), "users_truncated": int(sum(d > 0 for d in dropped))}
