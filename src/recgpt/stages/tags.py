"""Tag prediction, LLM_IT (report 2.2.1): attributes, interests, viewed/bought/searched sequences and today's
date (season) -> (tag, interest, reason) triplets in "modifier + core word" form, post-checked, each
mapped to a catalog category by phi.

A 135M model will not write 50 diverse tags in one answer, so the stage asks **once per interest**
(``tags_per_interest`` tags for each of at most ``interests_per_user`` interests): every call has one
focus, the interest of the triplet is the one asked about, and the count per user is
``interests x tags_per_interest`` before the checks. Output (``stages/tags.parquet``):
``user_id, tag, interest, reason, category, passed_checks, failed_check``; tags in the order they were
written, interest by interest.
"""

from __future__ import annotations

import json

import pyarrow as pa

from recgpt.llm.runtime import LLMRequest, LLMRuntime
from recgpt.stages.config import TagsConfig
from recgpt.stages.context import UserContext
from recgpt.stages.outcome import StageOutcome
from recgpt.stages.postchecks import Candidate, EmbeddingCache, check_tags, count_failures
from recgpt.stages.phi import short_title
from recgpt.stages.schemas import (PredictedTag, TagsAnswer, TagsAnswerReasoned, UserTag, UserTagsAnswer,
                                   UserTagsAnswerReasoned, answer_schema, salvage_items)
from recgpt.stages.text import season

TASK = "tags"

TAGS_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("tag", pa.string()),
        ("interest", pa.string()),
        ("reason", pa.string()),
        ("category", pa.string()),
        ("passed_checks", pa.bool_()),
        ("failed_check", pa.string()),
    ]
)


class CatalogHints:
    """Product types of the catalog near an interest, for the prompt (report Table 3's validity: a tag
    should name a product that exists). phi maps the interest text to its ``categories`` likeliest
    categories; their most popular items the user has not engaged with give brand-free short titles."""

    def __init__(self, items: pa.Table, popularity: dict[str, int], phi, categories: int = 2):
        self.phi = phi
        self.categories = categories
        by_category: dict[str, list[tuple[int, str, str]]] = {}
        for item, title, cat, brand in zip(
            items.column("item_id").to_pylist(), items.column("title").to_pylist(),
            items.column("category").to_pylist(), items.column("brand").to_pylist(),
        ):
            by_category.setdefault(cat, []).append((-popularity.get(item, 0), item, short_title(title, brand, 4)))
        self.by_category = {c: sorted(v) for c, v in by_category.items()}
        self._memo: dict[str, list[str]] = {}

    def categories_of(self, interest: str) -> list[str]:
        if interest not in self._memo:
            self._memo[interest] = [c for c, _ in self.phi.predict_topk([interest], self.categories)[0]]
        return self._memo[interest]

    def __call__(self, interest: str, exclude_items: set[str], n: int) -> list[str]:
        """Up to ``n`` distinct short titles, taken in turn from each likely category, popular first."""
        queues = [
            [text.lower() for _, item, text in self.by_category.get(cat, []) if item not in exclude_items
             and len(text.split()) >= 2]
            for cat in self.categories_of(interest)
        ]
        out: list[str] = []
        while len(out) < n and any(queues):
            for queue in queues:
                while queue and queue[0] in out:
                    queue.pop(0)
                if queue and len(out) < n:
                    out.append(queue.pop(0))
        return out


def tag_requests(
    ctx: UserContext, interests: list[str], config: TagsConfig, hints: CatalogHints | None = None
) -> list[LLMRequest]:
    """One request per interest (the first ``interests_per_user``), or with ``call: per_user`` one request for
    all of them (template v3: ``tags_per_user`` tags spread over the interests, each naming its interest)."""
    chosen = interests[: config.interests_per_user]
    requests = []
    exclude = set(ctx.history_item_ids)
    if config.call == "per_user":
        return [user_tags_request(ctx, chosen, config, hints, exclude)] if chosen else []
    for n, interest in enumerate(chosen, start=1):
        others = [i for i in chosen if i != interest]
        shown = hints(interest, exclude, config.hints_per_interest) if hints and config.hints_per_interest else []
        example = {"tag": shown[0] if shown else f"{interest} starter guide book", "reason": f"fits {interest}"}
        requests.append(
            LLMRequest(
                key=f"tags user {ctx.user_id} interest {n}",
                task=TASK,
                variables={
                    "attributes": ctx.attributes, "interest": interest, "other_interests": others,
                    "clicks": ctx.clicks, "purchases": ctx.purchases, "searches": ctx.searches,
                    "recent": ctx.recent[:5], "date": ctx.today.isoformat(), "season": season(ctx.today),
                    "n": config.tags_per_interest, "hints": shown, "example": json.dumps(example),
                },
                schema=answer_schema(TASK, config.reasoning),
                version=config.template_version,
                max_tokens=config.max_tokens,
            )
        )
    return requests


def user_tags_request(ctx: UserContext, chosen: list[str], config: TagsConfig, hints: CatalogHints | None,
                      exclude: set[str]) -> LLMRequest:
    """The one call of ``call: per_user``: hints from every interest in turn, one example tag object."""
    per_interest = max(1, -(-config.tags_per_user // len(chosen)))
    shown: list[str] = []
    if hints and config.hints_per_interest:
        for interest in chosen:
            shown += [h for h in hints(interest, exclude, config.hints_per_interest) if h not in shown]
    example = {"tag": shown[0] if shown else f"{chosen[0]} starter guide book", "interest": chosen[0],
               "reason": f"fits {chosen[0]}"}
    return LLMRequest(
        key=f"tags user {ctx.user_id} all interests",
        task=TASK,
        variables={
            "attributes": ctx.attributes, "interests": chosen, "clicks": ctx.clicks, "purchases": ctx.purchases,
            "searches": ctx.searches, "recent": ctx.recent[:5], "date": ctx.today.isoformat(),
            "season": season(ctx.today), "n": config.tags_per_user, "per_interest": per_interest, "hints": shown,
            "reasoning": config.reasoning, "example": json.dumps(example),
        },
        schema=answer_schema(TASK, config.reasoning, per_user=True),
        version=config.template_version,
        max_tokens=config.max_tokens,
    )


def answer_tags(request: LLMRequest, result) -> tuple[list[tuple[str, str, str]], bool]:
    """(tag, reason, interest) triplets of one answer, and whether they were salvaged from a cut-off one. A
    per-user answer names each tag's interest (one the call did not list falls back to the first listed)."""
    per_user = "interests" in request.variables
    kinds = (UserTagsAnswer, UserTagsAnswerReasoned) if per_user else (TagsAnswer, TagsAnswerReasoned)
    answer = result.value if result.ok and isinstance(result.value, kinds) else None
    found = answer.tags if answer else salvage_items(result.text or "", UserTag if per_user else PredictedTag)
    if not per_user:
        return [(t.tag, t.reason, request.variables["interest"]) for t in found], bool(found and not answer)
    listed = request.variables["interests"]
    lowered = {i.lower(): i for i in listed}
    return ([(t.tag, t.reason, lowered.get(t.interest.strip().lower(), listed[0])) for t in found],
            bool(found and not answer))


def predict_tags(
    contexts: dict[str, UserContext],
    interests: dict[str, list[str]],
    runtime: LLMRuntime,
    config: TagsConfig,
    phi=None,
    brands: list[str] | None = None,
    vectors: EmbeddingCache | None = None,
    hints: CatalogHints | None = None,
) -> StageOutcome:
    """Run LLM_IT per (user, interest) in one cached batch, then the tag post-checks per user (all of the
    user's tags together, so near-duplicates across interests are caught). ``phi``: a TagToCategory or
    None (category left null). Failed calls are counted, never raised."""
    vectors = vectors or EmbeddingCache()
    users = list(contexts)
    per_user = {u: tag_requests(contexts[u], interests.get(u, []), config, hints) for u in users}
    flat = [r for u in users for r in per_user[u]]
    results = iter(runtime.run_batch(flat, description="tags"))
    outcome = StageOutcome(pa.table({}))
    outcome.counts["users"] = len(users)
    outcome.counts["users_without_interests"] = sum(1 for u in users if not per_user[u])
    rows = []
    for user in users:
        candidates, owners = [], []
        for request in per_user[user]:
            result = next(results)
            outcome.add_results([result])
            found, salvaged = answer_tags(request, result)
            if result.ok and not found:
                outcome.counts["empty_answers"] += 1
            outcome.counts["salvaged_answers"] += int(salvaged)
            for tag, reason, interest in found:
                candidates.append(Candidate(tag.strip(), reason.strip()))
                owners.append(interest)
        verdicts = check_tags(candidates, contexts[user].recent, brands or [], config, vectors)
        outcome.counts.update(count_failures(verdicts))
        outcome.counts["candidates"] += len(candidates)
        for c, interest, v in zip(candidates, owners, verdicts):
            rows.append(
                {"user_id": user, "tag": c.text, "interest": interest, "reason": c.reason, "category": None,
                 "passed_checks": v is None, "failed_check": v}
            )
    if phi is not None and rows:
        for row, category in zip(rows, phi.predict([r["tag"] or "-" for r in rows])):
            row["category"] = category
    outcome.table = pa.Table.from_pylist(rows, schema=TAGS_SCHEMA)
    return outcome
