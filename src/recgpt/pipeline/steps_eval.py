"""Retrieval with every compared method, beta tuning on dev, and the evaluation tables.

Methods (see :data:`recgpt.pipeline.artifacts.METHODS`): popularity, the classic baseline (EASE or
item-kNN), and the trained retriever at beta = 1 (collaborative only), beta = 0 (tags only) and the beta
tuned on the dev fold. LLM tags exist for the sampled users only, so the five-way comparison runs on them;
the methods that need no LLM are also run on every test user.

Beta is tuned on dev with item-title tags (the titles of each user's last items): the LLM tags were mined
from a history that already contains the dev item, so tuning on them would leak the answer.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import logging

from recgpt.data.catalog import Catalog
from recgpt.pipeline.artifacts import read_json, write_json
from recgpt.pipeline.engine import StageContext
from recgpt.pipeline.evaluate import decile_rows
from recgpt.pipeline.steps_core import dataset_of, sample_of
from recgpt.retrieval.evaluate import method_metrics

log = logging.getLogger("recgpt.pipeline")

#: Methods that need no LLM tags, evaluated on every test user too.
NO_LLM_METHODS = ("popularity", "classic", "sequential", "collaborative")


def _rows(method: str, recs) -> list[dict]:
    out = []
    for user, items, scores in zip(recs.user_ids, recs.item_ids, recs.scores):
        for rank, (item, score) in enumerate(zip(items, scores)):
            if item != "":
                out.append({"method": method, "user_id": str(user), "rank": rank, "item_id": str(item),
                            "score": float(score)})
    return out


def _table(rows: list[dict]) -> pa.Table:
    schema = pa.schema([("method", pa.string()), ("user_id", pa.string()), ("rank", pa.int32()),
                        ("item_id", pa.string()), ("score", pa.float32())])
    return pa.Table.from_pylist(rows, schema=schema)


def stage_retrieve(ctx: StageContext) -> dict:
    """Write ``eval/recommendations.parquet`` (sampled users, every method), ``eval/recommendations_all.parquet``
    (every test user, methods without LLM) and ``eval/tuning.json``."""
    from recgpt.retrieval.base import create
    from recgpt.retrieval.fusion import load_tag_table
    from recgpt.retrieval.quality import beta_curve, choose_beta
    from recgpt.retrieval.tuning import describe, fit_for_test, tune_baseline
    from recgpt.retrieval.saved import load_model

    run = ctx.run
    cfg = ctx.config.evaluation
    dataset = dataset_of(ctx)
    model = load_model(run.retriever)
    curve = beta_curve(model, dataset, cfg.beta_grid, cfg.k_main, max_users=cfg.tune_users, seed=cfg.seed)
    beta = choose_beta(curve, cfg.beta_criterion, cfg.beta_tolerance)
    grid = {f"{c['beta']:g}": c["recall"] for c in curve}
    log.info("fusion weight tuned on dev: beta=%g (dev recall@%d: %s)", beta, cfg.k_main, grid)
    model.use_history(dataset, "test")
    tags = load_tag_table(run.tags) if run.tags.exists() else {}
    sample = sample_of(ctx)
    k = max(cfg.ks)
    if cfg.tune_baselines:  # tuned on dev, refitted on train + dev for the test lists (the usual protocol)
        classic_options, tried = tune_baseline(cfg.classic, dataset, cfg.classic_grid_or_default(),
                                               cfg.classic_options, cfg.k_main, cfg.tune_users, cfg.seed)
        baselines = {"popularity": fit_for_test("popular", {}, dataset),
                     "classic": fit_for_test(cfg.classic, classic_options, dataset)}
    else:
        classic_options, tried = dict(cfg.classic_options), []
        baselines = {"popularity": create("popular").fit(dataset, "test"),
                     "classic": create(cfg.classic, **classic_options).fit(dataset, "test")}
    if cfg.sequential:  # the sequential reference, trained like the TAR (train, early-stopped on dev)
        baselines["sequential"] = create("sasrec", threads=ctx.config.retriever.threads).fit(dataset, "test")
    rows = []
    for name, recommender in baselines.items():
        rows += _rows(name, recommender.recommend(sample, k))
    rows += _rows("collaborative", model.recommend(sample, k, beta=1.0))
    rows += _rows("tags-only", model.recommend(sample, k, tags=tags, beta=0.0))
    rows += _rows("fused", model.recommend(sample, k, tags=tags, beta=beta))
    pq.write_table(_table(rows), run.recommendations)
    all_rows: list[dict] = []
    if cfg.all_users:
        everyone = sorted(dataset.targets("test"))
        for name, recommender in baselines.items():
            all_rows += _rows(name, recommender.recommend(everyone, k))
        all_rows += _rows("collaborative", model.recommend(everyone, k, beta=1.0))
    pq.write_table(_table(all_rows), run.recommendations_all)
    llm_tag_users = sorted(u for u in sample if tags.get(u))
    with_tags = len(llm_tag_users)
    write_json(run.tuning, {"beta_tuned": beta, "beta_grid": grid, "beta_metric": f"recall@{cfg.k_main}",
                            "beta_criterion": cfg.beta_criterion, "beta_tolerance": cfg.beta_tolerance,
                            "beta_curve": curve,
                            "sample_users_with_llm_tags": with_tags, "llm_tag_users": llm_tag_users,
                            "classic_options": describe(classic_options), "classic_tuned": cfg.tune_baselines,
                            "classic_grid": [{"options": describe(p), f"dev_recall@{cfg.k_main}": r} for p, r in tried]})
    return {"beta_tuned": beta, "sample_users": len(sample), "sample_users_with_llm_tags": with_tags}


def _ranked(table: pa.Table, method: str, users: list[str], catalog: Catalog, k: int) -> np.ndarray:
    """(len(users), k) catalog positions of ``method``'s lists, -1 padded."""
    rows = table.filter(pc.equal(table.column("method"), method)).to_pylist()
    row_of = {u: i for i, u in enumerate(users)}
    out = np.full((len(users), k), -1, dtype=np.int64)
    for r in rows:
        i = row_of.get(r["user_id"])
        if i is not None and r["rank"] < k:
            out[i, r["rank"]] = catalog.lookup.get(r["item_id"], -1)
    return out


def stage_evaluate(ctx: StageContext) -> dict:
    """Metrics per method (``eval/metrics.json``) and per popularity decile (``eval/deciles.parquet``).

    Populations, each with its user count: ``sample`` (sampled users *with* LLM tags: every method, tags-only
    and fused use those tags), ``sample_title_tags`` (sampled users without LLM tags: tags-only and fused fall
    back to item-title tags, so they are reported apart), ``all_users`` (the methods that need no LLM)."""
    run = ctx.run
    cfg = ctx.config.evaluation
    dataset = dataset_of(ctx)
    catalog = Catalog.from_table(dataset.items)
    popularity = catalog.counts(dataset.events)
    targets_by_user = dataset.targets("test")
    tuning = read_json(run.tuning, {})
    out = {"dataset": dataset.name, "ks": cfg.ks, "k_main": cfg.k_main, "seed": cfg.seed,
           "classic_name": cfg.classic, **tuning}
    deciles: list[dict] = []
    sample = sample_of(ctx)
    with_llm = set(tuning.get("llm_tag_users", sample))
    populations = {  # sampled users with LLM tags, sampled users without (their tags are item titles), everyone
        "sample": [u for u in sample if u in with_llm],
        "sample_title_tags": [u for u in sample if u not in with_llm],
        "all_users": sorted(targets_by_user),
    }
    out["sample"] = {"users": 0, "methods": {}}
    for population, path, methods in (
        ("sample", run.recommendations, None),
        ("sample_title_tags", run.recommendations, None),
        ("all_users", run.recommendations_all, NO_LLM_METHODS),
    ):
        table = pq.read_table(path)
        users = populations[population]
        if table.num_rows == 0 or not users:
            continue
        targets = catalog.positions([targets_by_user.get(u) for u in users], missing=-1)
        present = [m for m in dict.fromkeys(table.column("method").to_pylist()) if methods is None or m in methods]
        block = {"users": len(users), "methods": {}}
        for method in present:
            ranked = _ranked(table, method, users, catalog, max(cfg.ks))
            block["methods"][method] = method_metrics(ranked, targets, catalog.category, popularity, cfg.ks)
            deciles += [dict(r, population=population)
                        for r in decile_rows(method, ranked, targets, popularity, cfg.k_main)]
        out[population] = block
    write_json(run.metrics, out)
    pq.write_table(pa.Table.from_pylist(deciles), run.deciles)
    k = cfg.k_main
    fused, collab = out["sample"]["methods"].get("fused", {}), out["sample"]["methods"].get("collaborative", {})
    return {"users_with_llm_tags": out["sample"]["users"],
            "users_with_title_tags": out.get("sample_title_tags", {}).get("users", 0), **{f"{m}@{k} {name}": round(v.get(f"{m}@{k}", float("nan")), 4)
            for name, v in (("fused", fused), ("collaborative", collab)) for m in ("recall", "categories", "long_tail")}}
