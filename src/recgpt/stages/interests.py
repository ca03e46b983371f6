"""Interest mining, LLM_UI (report 2.1.2): user attributes + compressed reliable behavior + matched
interest pool -> interests with stage (listed | extended) and reason, post-checked without an LLM.

One call per user (template ``interests``, answer :class:`~recgpt.stages.schemas.InterestsAnswer`).
Output table (``stages/interests.parquet``, kept rows only; ``interests_all.parquet`` holds every row with
its verdict): ``user_id, interest_id, interest, stage, reason``.
"""

from __future__ import annotations

import json

import pyarrow as pa

from recgpt.llm.runtime import LLMRequest, LLMRuntime
from recgpt.stages.config import InterestsConfig
from recgpt.stages.context import UserContext
from recgpt.stages.interest_pool import InterestPool, category_interest
from recgpt.stages.outcome import StageOutcome
from recgpt.stages.postchecks import Candidate, EmbeddingCache, check_interests, count_failures
from recgpt.stages.schemas import (InterestsAnswer, InterestsAnswerReasoned, MinedInterest, answer_schema,
                                   salvage_items)

TASK = "interests"

INTERESTS_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("interest_id", pa.string()),
        ("interest", pa.string()),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("passed_checks", pa.bool_()),
        ("failed_check", pa.string()),
    ]
)
PUBLIC_COLUMNS = ["user_id", "interest_id", "interest", "stage", "reason"]


def answer_example(ctx: UserContext, pool: list[str]) -> str:
    """One JSON interest built from the user's own data: the closest preset and the newest item. A weak
    model copies its example; copying this one still gives a grounded interest, never a foreign one."""
    items = ctx.purchases or ctx.clicks or ctx.searches
    interest = pool[0] if pool else (category_interest(ctx.history_categories[-1]) if ctx.history_categories else "")
    item = " ".join(items[0].split()[:5]) if items else interest
    return json.dumps({"interest": interest or "reading", "stage": "listed", "reason": f"bought {item}"})


def interest_request(ctx: UserContext, pool: list[str], config: InterestsConfig) -> LLMRequest:
    return LLMRequest(
        key=f"interests user {ctx.user_id}",
        task=TASK,
        variables={
            "attributes": ctx.attributes, "behavior": ctx.behavior, "pool": pool, "n": config.ask_interests,
            "example": answer_example(ctx, pool),
        },
        schema=answer_schema(TASK, config.reasoning),
        version=config.template_version,
        max_tokens=config.max_tokens,
    )


def mine_interests(
    contexts: dict[str, UserContext],
    runtime: LLMRuntime,
    pool: InterestPool,
    config: InterestsConfig,
    vectors: EmbeddingCache | None = None,
) -> StageOutcome:
    """Run LLM_UI for every context (one batch, cached), then the post-checks. Never raises for one bad
    answer: a failed call counts in ``failed_calls`` and yields no rows for that user."""
    vectors = vectors or pool.vectors
    users = list(contexts)
    requests = [
        interest_request(contexts[u], pool.match(contexts[u].history_texts, config.pool_size, u), config)
        for u in users
    ]
    results = runtime.run_batch(requests, description="interests")
    outcome = StageOutcome(pa.table({}))
    outcome.counts["users"] = len(users)
    outcome.add_results(results)
    rows = []
    for user, result in zip(users, results):
        answer = result.value if result.ok and isinstance(result.value, (InterestsAnswer, InterestsAnswerReasoned)) else None
        mined = answer.interests if answer else salvage_items(result.text or "", MinedInterest)
        outcome.counts["salvaged_answers"] += 0 if answer or not mined else 1
        if result.ok and not mined:
            outcome.counts["empty_answers"] += 1
        candidates = [Candidate(m.interest.strip(), m.reason.strip()) for m in mined]
        verdicts = check_interests(candidates, contexts[user].history_texts, config, vectors)
        outcome.counts.update(count_failures(verdicts))
        outcome.counts["candidates"] += len(candidates)
        for n, (m, c, v) in enumerate(zip(mined, candidates, verdicts), start=1):
            rows.append(
                {
                    "user_id": user, "interest_id": f"{user}:{n:02d}", "interest": c.text, "stage": m.stage,
                    "reason": c.reason, "passed_checks": v is None, "failed_check": v,
                }
            )
    outcome.table = pa.Table.from_pylist(rows, schema=INTERESTS_SCHEMA)
    return outcome


def kept_interests(table: pa.Table) -> dict[str, list[str]]:
    """user_id -> interests that passed the checks, in order (from a table with or without verdicts)."""
    keep = table.column("passed_checks").to_pylist() if "passed_checks" in table.column_names else None
    out: dict[str, list[str]] = {}
    for i, (user, interest) in enumerate(zip(table.column("user_id").to_pylist(), table.column("interest").to_pylist())):
        if keep is None or keep[i]:
            out.setdefault(user, []).append(interest)
    return out
