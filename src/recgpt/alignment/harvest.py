"""Answers worth training on: a model answers the stage prompts, the stage's post-checks and the judge keep the
good parts, and what is kept becomes training samples. Distillation (a teacher answers once, ``distill.py``)
and self-training (the student samples k answers per prompt, ``selftrain.py``) both go through here.

    prompts = stage_prompts("tags", run, dataset, users, stages)        # the stage's own requests
    harvest = Harvester(stages, filter, purifier, vectors, brands)
    result = harvest.run(prompts, runtime, seeds=[0, 1, 2, 3], source="self", round=1)
    result.samples, result.rates()                                      # kept samples; pass rates per criterion

An answer is split into its items (interests, tags); an item is kept when it passes the post-checks and, with
``filter.judge``, every judge criterion (a human verdict in the buffer overriding the LLM judge's); an answer
keeps only its passing items and is dropped when fewer than ``filter.min_items`` pass. The completion is the
stage's answer format holding the kept items (its reasoning kept only with ``filter.keep_reasoning``); the
prompt is rendered with the *student's* template (``stages``), whatever template the teacher was asked with,
so the student learns to answer what it is later asked.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from recgpt.alignment.config import FilterConfig
from recgpt.alignment.records import TrainingSample
from recgpt.judge.items import JudgeItem, clip
from recgpt.llm.base import as_messages
from recgpt.llm.runtime import LLMRequest, LLMResult, LLMRuntime
from recgpt.stages.context import UserContext
from recgpt.stages.postchecks import Candidate, EmbeddingCache, check_interests, check_tags
from recgpt.stages.schemas import InterestsAnswer, InterestsAnswerReasoned, MinedInterest, salvage_items


@dataclass
class StageConfigs:
    """The stage blocks whose templates, schemas and post-checks define the tasks."""

    interests: Any
    tags: Any
    explanations: Any = None

    def __post_init__(self) -> None:
        if self.explanations is None:
            from recgpt.stages.config import ExplanationsConfig

            self.explanations = ExplanationsConfig()

    def of(self, task: str):
        return getattr(self, task)


@dataclass
class StagePrompt:
    """One stage call to answer: the task, the user, the request (the student's), the user's context and, for
    tags, the user's interests."""

    task: str
    user_id: str
    request: LLMRequest
    context: UserContext
    interests: list[str] = field(default_factory=list)
    item: dict[str, Any] = field(default_factory=dict)  # explanations: the item's row (title, category)


def with_reasoning(config, reasoning: bool):
    """A copy of a stage block asking (or not) for reasoning, its template version the packaged one of that
    format (a block that already asks as wanted is kept as it is, pinned version included)."""
    data = config.model_dump()
    if data.get("reasoning") != reasoning:
        data.update(reasoning=reasoning, template_version=None)
    return type(config).model_validate(data)


def stage_prompts(task: str, run, dataset, users: list[str], stages: StageConfigs, phi=None,
                  vectors: EmbeddingCache | None = None, fold: str | None = "dev") -> list[StagePrompt]:
    """The stage's own requests for ``users`` with the history of ``fold`` (``dev``: the training fold, never
    the dev or test targets). Tag prompts use the interests the run mined for the user, else those of the
    user's most frequent history categories."""
    from recgpt.stages.context import build_contexts
    from recgpt.stages.runner import compressed_table

    vectors = vectors or EmbeddingCache()
    if task == "interests":
        from recgpt.stages.interest_pool import InterestPool
        from recgpt.stages.interests import interest_request

        config = stages.interests
        contexts = build_contexts(dataset, users, fold, compressed_table(run) if run is not None else None,
                                  history_lines=config.history_lines, history_chars=config.history_chars)
        pool = InterestPool.from_catalog(dataset.items.column("category").to_pylist(), vectors)
        return [StagePrompt(task, u, interest_request(contexts[u], pool.match(contexts[u].history_texts,
                                                                              config.pool_size, u), config),
                            contexts[u]) for u in users]
    if task == "explanations":
        return explanation_prompts(run, dataset, users, stages.explanations, fold)
    if task != "tags":
        raise ValueError(f"alignment harvests the interests, tags and explanations tasks, not {task!r}")
    from recgpt.alignment.evaluate import eval_interests
    from recgpt.stages.tags import CatalogHints, tag_requests

    config = stages.tags
    contexts = build_contexts(dataset, users, fold, compressed_table(run) if run is not None else None,
                              recent_days=config.recent_days, sequence_items=config.sequence_items,
                              current_date=config.current_date)
    interests, _ = eval_interests(run, dataset, phi, users, config.interests_per_user)
    hints = None
    if phi is not None and config.hints_per_interest:
        from recgpt.stages.runner import popularity

        hints = CatalogHints(dataset.items, popularity(dataset, fold), phi)
    return [StagePrompt(task, u, request, contexts[u], interests[u])
            for u in users for request in tag_requests(contexts[u], interests[u], config, hints)]


def explanation_prompts(run, dataset, users: list[str], config, fold: str | None = "dev") -> list[StagePrompt]:
    """Explanation prompts for ``users``: each of the user's ``categories_per_interest`` most frequent history
    categories is an interest (its category interest), paired with the ``items_per_interest`` most popular items
    of that category the user has not engaged with (report 2.4.2: interests and items that share a category)."""
    from recgpt.stages.context import build_contexts
    from recgpt.stages.explanations import Pair, explanation_request
    from recgpt.stages.interest_pool import category_interest
    from recgpt.stages.runner import popularity
    from recgpt.stages.tag_eval import history_ranking

    contexts = build_contexts(dataset, users, fold, current_date=config.current_date)
    counts = popularity(dataset, fold)
    by_category: dict[str, list[dict[str, Any]]] = {}
    for row in dataset.items.to_pylist():
        by_category.setdefault(row["category"], []).append(row)
    for rows in by_category.values():
        rows.sort(key=lambda r: (-counts.get(r["item_id"], 0), r["item_id"]))
    out = []
    for user in users:
        ctx = contexts[user]
        seen = set(ctx.history_item_ids)
        for category in history_ranking(ctx.history_categories)[:config.categories_per_interest]:
            interest = category_interest(category)
            items = [r for r in by_category.get(category, []) if r["item_id"] not in seen][:config.items_per_interest]
            for item in items:
                request = explanation_request(Pair(interest, item["item_id"]), item, ctx.today, config)
                request.key = f"{request.key} for user {user}"
                out.append(StagePrompt("explanations", user, request, ctx, [interest], item))
    return out


@dataclass
class HarvestResult:
    """What one harvest kept (``samples``) and counted: prompts, answers, items, and per criterion the items
    that passed (``passed``) out of those graded (``graded``); ``post_checks`` first, then ``judge:<name>``."""

    samples: list[TrainingSample] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    passed: Counter = field(default_factory=Counter)
    graded: Counter = field(default_factory=Counter)
    tokens: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)  # the first few failed calls' errors

    def rates(self) -> dict[str, float]:
        """Pass rate per criterion and ``overall`` (items kept / items written)."""
        out = {k: round(self.passed[k] / self.graded[k], 4) for k in self.graded if self.graded[k]}
        out["overall"] = round(self.counts["items_kept"] / self.counts["items"], 4) if self.counts["items"] else 0.0
        return out

    def yields(self) -> dict[str, float]:
        """Items written and kept per answer: a model that writes one passing item where five were asked for has
        a high pass rate but a low yield, so the two are read together."""
        answers = self.counts["answers"]
        return {"items_per_answer": round(self.counts["items"] / answers, 3) if answers else 0.0,
                "kept_per_answer": round(self.counts["items_kept"] / answers, 3) if answers else 0.0}

    def summary(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "pass_rates": self.rates(), "tokens": dict(self.tokens),
                "seconds": round(self.seconds, 1), "samples": len(self.samples), "errors": self.errors}


class Harvester:
    """Filters answers to stage prompts into training samples (see the module docstring)."""

    def __init__(self, stages: StageConfigs, filter: FilterConfig, purifiers: dict[str, Any] | None = None,
                 vectors: EmbeddingCache | None = None, brands: list[str] | None = None,
                 system_prompt: str | None = None):
        self.stages, self.filter = stages, filter
        self.purifiers = purifiers or {}
        self.vectors = vectors or EmbeddingCache()
        self.brands = brands or []
        self.system_prompt = system_prompt

    def run(self, prompts: list[StagePrompt], runtime: LLMRuntime, ask: list[LLMRequest] | None = None,
            seeds: list[int | None] | None = None, source: str = "teacher", round: int = 0,
            heldout: set[str] | None = None) -> HarvestResult:
        """Ask ``runtime`` every prompt (``ask``: the requests actually sent, e.g. a teacher's reasoning
        version; default the prompts' own) once per seed in ``seeds`` (None: the runtime's own seed), filter,
        and keep. Distinct completions of one prompt are kept once each."""
        result = HarvestResult()
        start = time.perf_counter()
        ask = ask or [p.request for p in prompts]
        answers: list[tuple[int, int | None, LLMResult]] = []
        for seed in seeds or [None]:
            config = runtime.config
            if seed is not None:
                runtime.config = config.model_copy(update={"seed": seed})
            try:
                results = runtime.run_batch(ask, description=f"{source} answers" + (f" seed {seed}" if seed is not None else ""))
            finally:
                runtime.config = config
            answers += [(n, seed, r) for n, r in enumerate(results)]
        for _, _, r in answers:
            result.tokens["prompt"] += r.prompt_tokens
            result.tokens["completion"] += r.completion_tokens
            result.counts["failed_calls"] += int(not r.ok)
            if not r.ok and len(result.errors) < 5:
                result.errors.append(f"{r.key}: {r.error}")
        parsed = [(n, seed, r, self._items(prompts[n], r)) for n, seed, r in answers]
        self._filter(prompts, parsed, result)
        seen: set[tuple[int, str]] = set()
        for n, seed, r, items in parsed:
            kept = [item for item in items if item["keep"]]
            result.counts["answers"] += 1
            if len(kept) < self.filter.min_items:
                result.counts["answers_dropped"] += 1
                continue
            completion = self._completion(prompts[n], r, kept)
            if (n, completion) in seen:
                result.counts["answers_duplicate"] += 1
                continue
            seen.add((n, completion))
            prompt = prompts[n]
            text = runtime.prompts.render(prompt.request.task, prompt.request.variables, prompt.request.version).text
            result.samples.append(TrainingSample(
                task=prompt.task, messages=as_messages(text, self.system_prompt), completion=completion,
                source=source, user_id=prompt.user_id, round=round,
                split="heldout" if heldout and prompt.user_id in heldout else "train",
                provenance={"key": prompt.request.key, "seed": seed, "items": len(items), "kept": len(kept),
                            "model": f"{runtime.backend.name}:{runtime.backend.model_id}",
                            "template": f"{ask[n].task} {ask[n].version}"}))
        result.counts["prompts"] = len(prompts)
        result.counts["kept_answers"] = len(result.samples)
        result.seconds = time.perf_counter() - start
        return result

    def _items(self, prompt: StagePrompt, result: LLMResult) -> list[dict[str, Any]]:
        """The answer's items with their post-check verdict (``check``: None when passed)."""
        if prompt.task == "interests":
            answer = result.value if result.ok and isinstance(result.value, (InterestsAnswer, InterestsAnswerReasoned)) else None
            mined = answer.interests if answer else salvage_items(result.text or "", MinedInterest)
            candidates = [Candidate(m.interest.strip(), m.reason.strip()) for m in mined]
            checks = check_interests(candidates, prompt.context.history_texts, self.stages.interests, self.vectors)
            return [{"output": {"interest": c.text, "stage": m.stage, "reason": c.reason}, "check": v}
                    for m, c, v in zip(mined, candidates, checks)]
        if prompt.task == "explanations":
            from recgpt.stages.explanation_checks import check_explanation
            from recgpt.stages.schemas import ExplanationAnswer, ExplanationAnswerReasoned

            answer = result.value if result.ok and isinstance(
                result.value, (ExplanationAnswer, ExplanationAnswerReasoned)) else None
            if answer is None:
                return []
            text = answer.explanation.strip()
            check = check_explanation(text, prompt.item["title"], self.stages.explanations)
            return [{"output": {"explanation": text}, "check": check}]
        from recgpt.stages.tags import answer_tags

        found, _ = answer_tags(prompt.request, result)
        candidates = [Candidate(tag.strip(), reason.strip()) for tag, reason, _ in found]
        checks = check_tags(candidates, prompt.context.recent, self.brands, self.stages.tags, self.vectors)
        return [{"output": {"tag": c.text, "interest": interest, "reason": c.reason}, "check": v}
                for (_, _, interest), c, v in zip(found, candidates, checks)]

    def _filter(self, prompts: list[StagePrompt], parsed, result: HarvestResult) -> None:
        """Post-checks, then the judge on the items that passed them; sets each item's ``keep``."""
        judged: list[tuple[dict[str, Any], JudgeItem]] = []
        for n, seed, _, items in parsed:
            prompt = prompts[n]
            for k, item in enumerate(items):
                result.counts["items"] += 1
                result.graded["post_checks"] += 1
                ok = item["check"] is None
                result.passed["post_checks"] += int(ok)
                if not ok:
                    result.counts[f"failed_{item['check']}"] += 1
                item["keep"] = ok
                if ok and self.filter.judge:
                    judged.append((item, self._judge_item(prompt, item, seed, k)))
        for task in {prompt.task for prompt in prompts}:
            pairs = [(item, j) for item, j in judged if j.task == task]
            if not pairs:
                continue
            purifier = self.purifiers.get(task)
            if purifier is None:
                raise ValueError(f"filter.judge is on but no judge was given for the {task} task")
            verdicts = purifier.verdicts([j for _, j in pairs])
            for item, j in pairs:
                for criterion in purifier.criteria:
                    verdict = verdicts.get((j.item_key, criterion))
                    if verdict is None:
                        result.counts["judge_failed"] += 1
                        item["keep"] = False
                        break
                    result.graded[f"judge:{criterion}"] += 1
                    result.passed[f"judge:{criterion}"] += int(verdict)
                    item["keep"] = item["keep"] and verdict
        result.counts["items_kept"] = sum(item["keep"] for _, _, _, items in parsed for item in items)

    def _judge_item(self, prompt: StagePrompt, item: dict[str, Any], seed, k: int) -> JudgeItem:
        if prompt.task == "explanations":
            context = {"User interest": prompt.interests[0], "Item title": prompt.item["title"],
                       "Item category": prompt.item["category"]}
            if prompt.item.get("brand"):
                context["Item brand"] = prompt.item["brand"]
            return JudgeItem(task=prompt.task, item_key=f"{prompt.request.key} seed {seed}", context=context,
                             output=dict(item["output"]), rule_passed=True, extra={"user_id": prompt.user_id})
        context = {"User behavior": clip(prompt.context.behavior or "(not available)", 1200)}
        if prompt.task == "tags":
            context["User interests"] = clip("; ".join(prompt.interests) or "(none)", 400)
        return JudgeItem(task=prompt.task, item_key=f"{prompt.request.key} seed {seed} item {k}", context=context,
                         output=dict(item["output"]), rule_passed=True, extra={"user_id": prompt.user_id})

    def _completion(self, prompt: StagePrompt, result: LLMResult, kept: list[dict[str, Any]]) -> str:
        """The stage's answer format with the kept items only (the student's format)."""
        if prompt.task == "explanations":
            data: dict[str, Any] = dict(kept[0]["output"])
        elif prompt.task == "interests":
            data = {"interests": [item["output"] for item in kept]}
        elif "interests" in prompt.request.variables:  # one call per user: each tag names its interest
            data = {"tags": [item["output"] for item in kept]}
        else:
            data = {"tags": [{"tag": i["output"]["tag"], "reason": i["output"]["reason"]} for i in kept]}
        if self.filter.keep_reasoning:
            reasoning = getattr(result.value, "reasoning", None)
            if reasoning:
                data = {"reasoning": reasoning, **data}
        return json.dumps(data, ensure_ascii=False)
