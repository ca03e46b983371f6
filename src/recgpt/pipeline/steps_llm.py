"""The LLM stages of the pipeline (interests, tags, tag evaluation, explanations), run on the sampled users
through the stages area's functions and one shared LLM runtime per process.

Each stage writes the table the other areas read (kept rows) and, beside it, every row with its post-check
verdict (``*_all.parquet``), so the report can count what the checks removed.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from recgpt.pipeline.engine import StageContext
from recgpt.pipeline.steps_core import dataset_of, run_of, sample_of


def runtime_of(ctx: StageContext):
    """One :class:`~recgpt.llm.runtime.LLMRuntime` per process, caching to ``RUN/llm/cache.sqlite`` and
    logging usage to ``RUN/llm/usage.jsonl``."""
    if "llm_runtime" not in ctx.shared:
        from recgpt.llm.runtime import LLMRuntime

        run, _ = run_of(ctx)
        run.llm_cache.parent.mkdir(parents=True, exist_ok=True)
        ctx.shared["llm_runtime"] = LLMRuntime(ctx.config.llm, cache_path=run.llm_cache, usage_path=run.llm_usage)
    return ctx.shared["llm_runtime"]


def vectors_of(ctx: StageContext):
    """One MiniLM embedding cache per process, shared by the post-checks of every stage."""
    if "vectors" not in ctx.shared:
        from recgpt.stages.postchecks import EmbeddingCache

        ctx.shared["vectors"] = EmbeddingCache()
    return ctx.shared["vectors"]


def outcome_summary(outcome) -> dict:
    """A stage outcome's counts, usage and pass rate as one flat dict (stored in ``stages.json``)."""
    summary = outcome.summary()
    flat = {**summary["counts"], **summary["usage"]}
    if summary.get("pass_rate") is not None:
        flat["pass_rate"] = round(summary["pass_rate"], 4)
    return flat


def write_kept(table: pa.Table, kept_path, all_path, public_columns: list[str] | None = None) -> int:
    """Write every row to ``all_path`` and the rows that passed the checks to ``kept_path``."""
    pq.write_table(table, all_path)
    if "passed_checks" in table.column_names and public_columns is not None:
        kept = table.filter(table.column("passed_checks")).select(public_columns)
    else:
        kept = table
    pq.write_table(kept, kept_path)
    return kept.num_rows


def contexts_of(ctx: StageContext, fold, **options):
    from recgpt.stages.context import build_contexts

    run, _ = run_of(ctx)
    return build_contexts(dataset_of(ctx), sample_of(ctx), fold, pq.read_table(run.compressed), **options)


def stage_interests(ctx: StageContext) -> dict:
    """LLM_UI on the sampled users: ``stages/interests.parquet`` (kept) and ``interests_all.parquet``."""
    from recgpt.stages.interest_pool import InterestPool
    from recgpt.stages.interests import PUBLIC_COLUMNS, mine_interests

    run, _ = run_of(ctx)
    cfg = ctx.config.interests
    contexts = contexts_of(ctx, cfg.fold, history_lines=cfg.history_lines)
    categories = sorted(set(dataset_of(ctx).items.column("category").to_pylist()))
    pool = InterestPool.from_catalog(categories, vectors_of(ctx))
    if cfg.mined_pool is not None:
        pool.add_mined(cfg.mined_pool)
    outcome = mine_interests(contexts, runtime_of(ctx), pool, cfg, vectors_of(ctx))
    write_kept(outcome.table, run.interests, run.interests.with_name("interests_all.parquet"), PUBLIC_COLUMNS)
    return outcome_summary(outcome)


def stage_tags(ctx: StageContext) -> dict:
    """LLM_IT per (user, interest), post-checked, mapped to categories by phi: ``stages/tags.parquet`` holds
    every tag with ``passed_checks`` (the retriever keeps the passing ones)."""
    from recgpt.stages.interests import kept_interests
    from recgpt.stages.phi import TagToCategory
    from recgpt.stages.tags import predict_tags

    run, _ = run_of(ctx)
    cfg = ctx.config.tags
    contexts = contexts_of(ctx, cfg.fold, recent_days=cfg.recent_days, sequence_items=cfg.sequence_items,
                          current_date=cfg.current_date)
    interests = kept_interests(pq.read_table(run.interests))
    brands = sorted({b for b in dataset_of(ctx).items.column("brand").to_pylist() if b})
    outcome = predict_tags(contexts, interests, runtime_of(ctx), cfg, TagToCategory.load(run.phi), brands,
                           vectors_of(ctx))
    pq.write_table(outcome.table, run.tags)
    return outcome_summary(outcome)


def stage_tag_eval(ctx: StageContext) -> dict:
    raise NotImplementedError("waiting for recgpt.stages tag evaluation")


def stage_explanations(ctx: StageContext) -> dict:
    raise NotImplementedError("waiting for recgpt.stages.explanations")
