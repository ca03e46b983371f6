"""The LLM stages of the pipeline (interests, tags, tag evaluation, explanations), run on the sampled users
through the stages area's functions and one shared LLM runtime per process.

Each stage writes the table the other areas read (kept rows) and, beside it, every row with its post-check
verdict (``*_all.parquet``), so the report can count what the checks removed.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recgpt.pipeline.artifacts import write_json
from recgpt.pipeline.engine import StageContext
from recgpt.pipeline.steps_core import dataset_of, sample_of


def runtime_of(ctx: StageContext, adapter=None):
    """One :class:`~recgpt.llm.runtime.LLMRuntime` per process (and one more for a tuned ``adapter``, which
    the torch engine serves), caching to ``RUN/llm/cache.sqlite`` and logging usage to ``RUN/llm/usage.jsonl``.
    The adapter's content hash is part of every cache key, so tuned answers never mix with the base's.
    The calls the cache cannot answer go to the configured executor (``executor`` block: local or Ray)."""
    key = "llm_runtime" if adapter is None else "llm_runtime_tuned"
    if key not in ctx.shared:
        from recgpt.executors.base import create_executor
        from recgpt.llm.runtime import LLMRuntime

        run = ctx.run
        run.llm.mkdir(parents=True, exist_ok=True)
        config = ctx.config.llm
        if adapter is not None:
            config = config.model_copy(update={"backend": "torch.v1"}).with_options("torch", adapter=str(adapter))
        ctx.shared[key] = LLMRuntime(config, cache_path=run.llm_cache, usage_path=run.llm_usage,
                                     executor=create_executor(ctx.config.executor, run.llm_blocks))
    return ctx.shared[key]


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


def stage_interests(ctx: StageContext) -> dict:
    """LLM_UI on the sampled users: ``stages/interests.parquet`` (kept rows) and ``interests_all.parquet``
    (every row with its post-check verdict)."""
    from recgpt.stages.runner import run_interests

    outcome = run_interests(ctx.run, dataset_of(ctx), runtime_of(ctx), ctx.config.interests, vectors_of(ctx),
                            replace=True)
    return {**outcome_summary(outcome), **judge_filter(ctx, "interests")}


def judge_filter(ctx: StageContext, task: str) -> dict:
    """With ``judge.run_filter``: the judge grades the stage's outputs and only passing ones go downstream
    (:mod:`recgpt.judge.run_filter`); its calls run where the pipeline's do unless the judge names an executor."""
    judge = ctx.config.judge
    if not judge.run_filter:
        return {}
    from recgpt.judge.run_filter import filter_stage

    if "executor" not in judge.model_fields_set:
        judge = judge.model_copy(update={"executor": ctx.config.executor})
    return filter_stage(ctx.run, task, judge)


def stage_tags(ctx: StageContext) -> dict:
    """LLM_IT per (user, interest), post-checked, mapped to categories by phi: ``stages/tags.parquet`` holds
    every tag with ``passed_checks`` (the retriever keeps the passing ones). With alignment on, the tuned
    adapter answers (through the torch engine)."""
    from recgpt.pipeline.steps_align import tuned_adapter
    from recgpt.stages.phi import TagToCategory
    from recgpt.stages.runner import run_tags

    run = ctx.run
    adapter = tuned_adapter(ctx)
    outcome = run_tags(run, dataset_of(ctx), runtime_of(ctx, adapter), ctx.config.tags,
                       TagToCategory.load(run.phi), vectors_of(ctx), replace=True)
    return {**outcome_summary(outcome), "model": "tuned" if adapter else "base", **judge_filter(ctx, "tags")}


def stage_tag_eval(ctx: StageContext) -> dict:
    """Category HR@K of the next interaction for the sampled users (report Table 5) beside no-LLM baselines:
    ``eval/tag_eval.json`` with one series of HR values per method."""
    from recgpt.stages.tag_eval import evaluate_tags

    run = ctx.run
    cfg = ctx.config.tag_eval
    report = evaluate_tags(pq.read_table(run.tags), dataset_of(ctx), sample_of(ctx), cfg.fold, list(cfg.ks))
    names = {"llm_tags": "LLM tags through phi", "history": "own history categories (no LLM)",
             "popularity": "popular categories (no LLM)"}
    series = {label: [report.rows[key][f"HR@{k}"] for k in cfg.ks] for key, label in names.items() if key in report.rows}
    mean_list = {label: report.rows[key]["mean_list"] for key, label in names.items() if key in report.rows}
    note = ("Mean categories named per user: " + ", ".join(f"{k} {v:.1f}" for k, v in mean_list.items())
            + f". {report.n_users_with_tags} of {report.n_users} users had tags that passed the checks.")
    write_json(run.tag_eval, {"ks": list(cfg.ks), "users": report.n_users, "series": series, "note": note,
                              "rows": report.rows})
    return {"users": report.n_users, "users_with_tags": report.n_users_with_tags,
            **{f"{key} HR@{cfg.ks[-1]}": round(report.rows[key][f"HR@{cfg.ks[-1]}"], 3) for key in names
               if key in report.rows}}


def stage_explanations(ctx: StageContext) -> dict:
    """Offline explanations for what the fused retriever shows the sampled users (top ``explain_top``), and with
    ``explanations.production: catalog`` for what the service shows every user (report 2.4.2):
    ``stages/explanations.sqlite`` (the lookup table) and ``eval/explained.parquet`` (each shown item with
    the explanation the online lookup returns for its user). The summary gives the coverage of the served
    lists (``served_*_share``: interest explanation, item-only, none). With ``judge.run_filter`` the judge
    grades the explanations first, and those it fails are no longer served (both files and the coverage
    reflect that)."""
    from recgpt.stages.runner import run_explanations, served_lists

    run = ctx.run
    recs = pq.read_table(run.recommendations)
    top = ctx.config.evaluation.explain_top
    fused = [r for r in recs.filter(pc.equal(recs.column("method"), "fused")).to_pylist() if r["rank"] < top]
    fused.sort(key=lambda r: (r["user_id"], r["rank"]))
    shown: dict[str, list[str]] = {}
    for r in fused:
        shown.setdefault(r["user_id"], []).append(r["item_id"])
    dataset = dataset_of(ctx)
    cfg = ctx.config.explanations
    served = served_lists(run, dataset, cfg.served_depth)  # what `recgpt serve` shows every user
    outcome = run_explanations(run, dataset, runtime_of(ctx), cfg, recommended=shown, vectors=vectors_of(ctx),
                               replace=True, served=served)
    judged = judge_filter(ctx, "explanations")
    rows = explain_shown(run, dataset, fused, cfg.match_similarity, vectors_of(ctx))
    pq.write_table(pa.Table.from_pylist(rows, schema=EXPLAINED_SCHEMA), run.explained)
    summary = outcome_summary(outcome)
    summary["shown_items"] = len(rows)
    summary["shown_with_interest_explanation"] = sum(r["source"] == "interest" for r in rows)
    summary["shown_without_explanation"] = sum(r["source"] == "none" for r in rows)
    summary.update(served_coverage(run, served, cfg.match_similarity, vectors_of(ctx)))
    return {**summary, **judged}


def served_coverage(run, served: dict[str, list[str]], match_similarity: float, vectors) -> dict:
    """Explanation coverage of what the service shows (every user's first ``served_depth`` items): shares of
    slots with an interest explanation, an item-only one, or none (see ``stages.explanations.explanation_coverage``)."""
    from recgpt.stages.explanations import ExplanationTable, explanation_coverage
    from recgpt.stages.interests import kept_interests

    table = ExplanationTable(run.explanations, match_similarity, vectors)
    try:
        return explanation_coverage(table, served, kept_interests(pq.read_table(run.interests)))
    finally:
        table.close()


def explain_shown(run, dataset, shown: list[dict], match_similarity: float, vectors) -> list[dict]:
    """Each shown item (rows with user_id, rank, item_id) with the explanation the online lookup returns
    for its user's interests, and where it came from: ``interest``, ``item`` (item-only) or ``none``."""
    from recgpt.stages.explanations import ExplanationTable
    from recgpt.stages.interests import kept_interests

    interests = kept_interests(pq.read_table(run.interests))
    items = {r["item_id"]: r for r in dataset.items.select(["item_id", "title", "category"]).to_pylist()}
    table = ExplanationTable(run.explanations, match_similarity, vectors)
    rows = []
    for r in shown:
        found = table.lookup(interests.get(r["user_id"], []), r["item_id"])
        item = items[r["item_id"]]
        rows.append({"user_id": r["user_id"], "rank": r["rank"], "item_id": r["item_id"], "title": item["title"],
                     "category": item["category"], "interest": found.interest if found else None,
                     "explanation": found.explanation if found else "",
                     "source": ("interest" if found.interest else "item") if found else "none"})
    table.close()
    return rows


EXPLAINED_SCHEMA = pa.schema([("user_id", pa.string()), ("rank", pa.int32()), ("item_id", pa.string()),
                              ("title", pa.string()), ("category", pa.string()), ("interest", pa.string()),
                              ("explanation", pa.string()), ("source", pa.string())])
