"""The alignment stages of the pipeline: fine-tune the tag model before the tags stage, then measure it.

``align`` builds the tag task's incremental-learning set from the training fold and fine-tunes the embedded
model on it (``RUN/alignment/``); the tags stage then answers through the torch engine with the tuned
adapter. ``align_eval`` writes Table 5 (tag HR@K of the base and the tuned model on the sampled users, at
the category and the finer leaf granularity, beside the no-LLM baselines) and the downstream comparison:
tags-only and fused retrieval with the base model's tags and with the tuned model's, at the beta tuned on
dev. With ``alignment.enabled: false`` both stages only record that they are off.
"""

from __future__ import annotations

from pathlib import Path

from recgpt.pipeline.artifacts import read_json, write_json
from recgpt.pipeline.engine import StageContext
from recgpt.pipeline.steps_core import dataset_of, sample_of


def tuned_adapter(ctx: StageContext) -> Path | None:
    """The tuned tag model's LoRA adapter when alignment is on and has run, else None."""
    if not ctx.config.alignment.enabled:
        return None
    summary = read_json(ctx.run.alignment_summary, {})
    return Path(summary["adapter"]) if summary.get("adapter") else None


def stage_align(ctx: StageContext) -> dict:
    """Build ``RUN/alignment/sets/tags-il.parquet`` and fine-tune ``RUN/alignment/models/tags-il/`` (a killed
    training resumes; a finished one is reused); ``RUN/alignment/summary.json`` names the adapter."""
    run, cfg = ctx.run, ctx.config.alignment
    if not cfg.enabled:
        write_json(run.alignment_summary, {"enabled": False})
        return {"enabled": False}
    from recgpt.alignment.runner import IL_MODEL, IL_SET, build_incremental_set, tune
    from recgpt.stages.phi import TagToCategory

    judge = cfg.judge  # its calls run where the pipeline's do, unless the judge block names its own executor
    if "executor" not in judge.model_fields_set:
        judge = judge.model_copy(update={"executor": ctx.config.executor})
    training_set = build_incremental_set(run, dataset_of(ctx), TagToCategory.load(run.phi), ctx.config.tags,
                                         cfg.incremental, ctx.config.llm, IL_SET, judge=judge)
    result = tune(run, ctx.config.tags, cfg.trainer, ctx.config.llm, IL_SET, IL_MODEL)
    if result.adapter is None:
        raise ValueError("alignment in the pipeline serves a LoRA adapter: set alignment.trainer.method: lora")
    metrics = result.manifest["metrics"]
    summary = {"enabled": True, "adapter": str(result.adapter), "samples": result.manifest["samples"],
               "set_counts": training_set.counts, **metrics}
    write_json(run.alignment_summary, summary)
    return {"samples": result.manifest["samples"]["train"], "steps": metrics["steps"],
            "last_loss": metrics["last_loss"], "best_eval_loss": metrics["best_eval_loss"],
            "tokens_per_s": metrics["tokens_per_s"]}


def stage_align_eval(ctx: StageContext) -> dict:
    """Table 5 and the downstream comparison (``RUN/alignment/table5.json``) on the sampled users the tags
    stage asked (those with interests). The tuned model's tags are the tags stage's own answers; only the base
    model is asked here, with the same prompts."""
    run, cfg = ctx.run, ctx.config.alignment
    adapter = tuned_adapter(ctx)
    if adapter is None:
        write_json(run.table5, {"enabled": False})
        return {"enabled": False}
    from recgpt.alignment.evaluate import evaluate_tag_models
    from recgpt.pipeline.steps_llm import vectors_of
    from recgpt.stages.phi import TagToCategory

    users, tuned = tags_stage_answers(ctx, adapter)
    table, tag_tables = evaluate_tag_models(
        run, dataset_of(ctx), TagToCategory.load(run.phi), ctx.config.tags, ctx.config.llm,
        {"base": None, "tuned": adapter}, users, cfg.evaluation, run.llm_cache, executor=ctx.config.executor,
        answered={"tuned": tuned}, vectors=vectors_of(ctx))
    table.downstream = downstream(ctx, tag_tables, users)
    out = {"enabled": True, **table.__dict__}
    write_json(run.table5, out)
    k = max(table.ks)
    return {f"{name} category HR@{k}": round(table.rows[name]["category"][f"HR@{k}"], 4)
            for name in ("base", "tuned", "history")}


def tags_stage_answers(ctx: StageContext, adapter: Path):
    """(users, (tag table, answer quality)): the sampled users the tags stage asked and what the tuned model
    answered them, read from ``RUN/stages/tags.parquet`` and the stage's summary. Rows the judge filter of
    ``recgpt run`` failed count as passing here, as the base model's answers are not judged."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from recgpt.alignment.evaluate import answer_quality
    from recgpt.stages.interests import kept_interests

    run = ctx.run
    asked = kept_interests(pq.read_table(run.interests))
    users = [u for u in sample_of(ctx) if u in asked]
    stored, chosen = pq.read_table(run.tags), set(users)
    rows = [r for r in stored.to_pylist() if r["user_id"] in chosen]
    for r in rows:
        if (r.get("failed_check") or "").startswith("judge:"):
            r["passed_checks"], r["failed_check"] = True, None
    table = pa.Table.from_pylist(rows, schema=stored.schema)
    summary = read_json(run.stage_summary("tags"), {})
    usage = summary.get("usage", {})
    return users, (table, answer_quality(table, summary.get("counts", {}), usage, users,
                                         usage.get("wall_seconds", 0.0), adapter))


def downstream(ctx: StageContext, tag_tables: dict, users: list[str]) -> dict:
    """Tags-only (beta 0) and fused (the beta the retrieve stage tuned on dev) retrieval metrics with each
    model's tags, on the sampled users that have tags from both models."""
    from recgpt.alignment.downstream import downstream_retrieval
    from recgpt.retrieval.saved import load_model

    cfg = ctx.config.evaluation
    beta = read_json(ctx.run.tuning, {}).get("beta_tuned", 1.0)
    return downstream_retrieval(load_model(ctx.run.retriever), dataset_of(ctx), tag_tables, users, beta, cfg.ks, cfg.k_main)
