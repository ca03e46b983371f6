"""SerenGPT: an LLM that judges whether a candidate item is serendipitous for a cognition profile (SERAL
stage 2), with a reason. Prompt ``templates/serendipity/v<N>.j2``, criteria from the judge rubric
``rubrics/serendipity`` (unexpectedness, relevance), answer :class:`SerendipityAnswer`.

``serengpt.v1`` is the prompted model (the base, "SerenPrompt" in the paper, with ``serengpt.adapter``
unset) or the aligned one (``serengpt.adapter``: the LoRA adapter ``recgpt seral train`` wrote). Its score is
1 for a "yes", 0 for a "no" (a failed answer scores 0 with verdict "failed").

``serengpt-pref.v1`` reads the same model (same prompt, same adapter option) by preference instead: it
scores the two answers IPO trains on, the "yes" and the "no" answer of :func:`candidate_answers`, by their
log-probabilities (teacher forcing, no sampling), and its score is ``sigmoid(log p(yes) - log p(no))``, the
model's probability of "yes" between the two. Scores are continuous, so candidates rarely tie.
"""

from __future__ import annotations

import json
import math
from typing import Literal

from pydantic import BaseModel, Field

from recgpt.seral.records import CognitionProfile, Judgment
from recgpt.seral.scorers import ScorerContext

TASK = "serendipity"


class SerendipityAnswer(BaseModel):
    """{"reason": "...", "verdict": "yes" | "no"}."""

    reason: str = Field(max_length=120)
    verdict: Literal["yes", "no"]


def prompt_variables(profile: CognitionProfile, item: str, context: ScorerContext) -> dict:
    from recgpt.judge.rubric import load_rubric, rubric_for_prompt

    rubric = load_rubric(TASK, context.config.serengpt.rubric_version)
    title = " ".join(str(context.titles.get(item, item)).split()[:12])
    return {"profile": profile.text(), "item": title, "category": context.category.get(item, "unknown"),
            "criteria": rubric_for_prompt(rubric, examples=False)}


def answer_text(verdict: str, reason: str) -> str:
    """The completion SerenGPT is trained to give (the JSON the scorer parses)."""
    return json.dumps({"reason": reason, "verdict": verdict})


def candidate_answers(profile: CognitionProfile, category: str) -> tuple[str, str]:
    """The ("yes", "no") answers the preference pairs train for an item of ``category``: the "no" gives the
    familiar reason when the user already has the category, the new-but-unrelated one otherwise."""
    from recgpt.seral.pairs import reasons

    kind = "familiar" if category in set(profile.familiar) else "new-not-taken"
    return (answer_text("yes", reasons(category, "yes", kind)), answer_text("no", reasons(category, "no", kind)))


class SerenGPTScorer:
    """serengpt.v1: one LLM call per (profile, item) through the runtime (cached in ``RUN/llm/cache.sqlite``)."""

    name = "serengpt.v1"

    def __init__(self, context: ScorerContext):
        from recgpt.llm.runtime import LLMRuntime

        self.context = context
        config = context.config.serengpt
        llm = config.llm
        if config.adapter:
            llm = llm.with_options(adapter=config.adapter)
        run = context.run
        self.runtime = LLMRuntime(llm, cache_path=run.llm_cache if run is not None else None,
                                  usage_path=run.llm_usage if run is not None else None, backend=context.backend)

    @classmethod
    def build(cls, context: ScorerContext) -> "SerenGPTScorer":
        return cls(context)

    def requests(self, pairs: list[tuple[CognitionProfile, str]]):
        from recgpt.llm.records import LLMRequest

        config = self.context.config.serengpt
        return [LLMRequest(f"seral {p.user_id} {p.version} {item}", TASK, prompt_variables(p, item, self.context),
                           schema=SerendipityAnswer, version=config.template_version, max_tokens=config.max_tokens)
                for p, item in pairs]

    def render(self, profile: CognitionProfile, item: str) -> str:
        """The prompt text of one judgment (the training pairs use exactly this)."""
        config = self.context.config.serengpt
        return self.runtime.render(TASK, prompt_variables(profile, item, self.context), config.template_version)

    def score(self, pairs: list[tuple[CognitionProfile, str]]) -> list[Judgment]:
        results = self.runtime.run_batch(self.requests(pairs), description="serendipity judgments")
        out = []
        for (profile, item), result in zip(pairs, results):
            if result.ok:
                verdict, reason = result.value.verdict, result.value.reason
            else:
                verdict, reason = "failed", (result.error or "")[:120]
            out.append(Judgment(profile.user_id, profile.version, item, self.name,
                                1.0 if verdict == "yes" else 0.0, verdict, reason))
        return out

    def close(self) -> None:
        self.runtime.close()


class SerenGPTPreferenceScorer:
    """serengpt-pref.v1: SerenGPT's probability of its "yes" answer against its "no" answer (teacher-forced
    log-probabilities through the torch engine; the ``serengpt.llm`` block must name a backend that scores
    answers, the torch engine)."""

    name = "serengpt-pref.v1"

    def __init__(self, context: ScorerContext):
        from recgpt.llm.base import create_backend
        from recgpt.llm.prompts import PromptLibrary

        self.context = context
        config = context.config.serengpt
        llm = config.llm.with_options(adapter=config.adapter) if config.adapter else config.llm
        self.backend = context.backend if context.backend is not None else create_backend(llm)
        if not hasattr(self.backend, "answer_logprobs"):
            raise ValueError(f"{self.name} needs a backend that scores given answers (backend: torch), not "
                             f"{llm.backend!r}; use serengpt.v1 with this backend")
        self.prompts = PromptLibrary(llm.template_dirs)

    @classmethod
    def build(cls, context: ScorerContext) -> "SerenGPTPreferenceScorer":
        return cls(context)

    def score(self, pairs: list[tuple[CognitionProfile, str]], progress=None) -> list[Judgment]:
        from recgpt.progress import reporter

        report = reporter(progress)
        version = self.context.config.serengpt.template_version
        out = []
        for done, (profile, item) in enumerate(pairs):
            prompt = self.prompts.render(TASK, prompt_variables(profile, item, self.context), version).text
            answers = candidate_answers(profile, self.context.category.get(item, "unknown"))
            yes, no = self.backend.answer_logprobs(prompt, list(answers))
            p_yes = 1.0 / (1.0 + math.exp(min(50.0, max(-50.0, no - yes))))
            verdict = "yes" if p_yes >= 0.5 else "no"
            reason = json.loads(answers[0 if verdict == "yes" else 1])["reason"]
            out.append(Judgment(profile.user_id, profile.version, item, self.name, p_yes, verdict, reason))
            report("serendipity preferences", done + 1, len(pairs))
        return out

    def close(self) -> None:
        self.backend.close()
