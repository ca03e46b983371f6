"""The LLM stages of the pipeline (interests, tags, tag evaluation, explanations), run on the sampled users
through the stages area's functions and one shared LLM runtime per process."""

from __future__ import annotations

from recgpt.pipeline.engine import StageContext
from recgpt.pipeline.steps_core import run_of


def runtime_of(ctx: StageContext):
    """One :class:`~recgpt.llm.runtime.LLMRuntime` per process, caching to ``RUN/llm/cache.sqlite`` and
    logging usage to ``RUN/llm/usage.jsonl``."""
    if "llm_runtime" not in ctx.shared:
        from recgpt.llm.runtime import LLMRuntime

        run, _ = run_of(ctx)
        run.llm_cache.parent.mkdir(parents=True, exist_ok=True)
        ctx.shared["llm_runtime"] = LLMRuntime(ctx.config.llm, cache_path=run.llm_cache, usage_path=run.llm_usage)
    return ctx.shared["llm_runtime"]


def stage_interests(ctx: StageContext) -> dict:
    raise NotImplementedError("waiting for recgpt.stages.interests")


def stage_tags(ctx: StageContext) -> dict:
    raise NotImplementedError("waiting for recgpt.stages.tags")


def stage_tag_eval(ctx: StageContext) -> dict:
    raise NotImplementedError("waiting for recgpt.stages tag evaluation")


def stage_explanations(ctx: StageContext) -> dict:
    raise NotImplementedError("waiting for recgpt.stages.explanations")
