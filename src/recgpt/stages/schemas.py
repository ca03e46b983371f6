"""Answer schemas of the three LLM stages (pydantic), handed to the runtime as the JSON schema of the answer.

They follow Appendix B's output formats with short lowercase keys a weak model copies reliably.

Strings are bounded (a 135M model otherwise rambles until ``max_tokens`` and the JSON is cut), lists are
not: llama.cpp turns a bound of N into N nested optional grammar rules, and a bounded list of objects with
bounded strings made sampling many times slower. ``max_tokens`` bounds the list; the post-checks cap counts.
"""

from __future__ import annotations

from typing import Literal

import json

from pydantic import BaseModel, Field, ValidationError, create_model


class MinedInterest(BaseModel):
    """One interest: Appendix B's {"Interest", "Stage", "Reason"} (the id is assigned by the stage)."""

    interest: str = Field(max_length=60)
    stage: Literal["listed", "extended"]
    reason: str = Field(max_length=120)


class InterestsAnswer(BaseModel):
    """LLM_UI's answer: {"interests": [{"interest", "stage", "reason"}, ...]}."""

    interests: list[MinedInterest]


class PredictedTag(BaseModel):
    """One tag of a per-interest call; the interest of the triplet is the one the call asked about."""

    tag: str = Field(max_length=60)
    reason: str = Field(max_length=120)


class TagsAnswer(BaseModel):
    """LLM_IT's answer for one interest: {"tags": [{"tag", "reason"}, ...]}."""

    tags: list[PredictedTag]


class ExplanationAnswer(BaseModel):
    """LLM_RE's answer: Appendix B's {"Explanation": "..."}."""

    explanation: str = Field(max_length=90)


# Reasoning: the chain of thought the report's prompts ask for (the templates that ask for it: interests v2,
# tags v2 and v3, explanations v2). It comes first in the answer, so the model reasons before it answers;
# teachers and strong models keep it, and :func:`strip_reasoning` removes it before storage or training when
# the configuration says so. The reasoning field comes first, so each reasoned model is a class of its own; its
# bound (400 characters) stays small because llama.cpp turns a bound of N into N nested grammar rules (1,200
# crashed its server).


class UserTag(BaseModel):
    """One tag of a per-user call (every interest at once): the triplet's interest is written by the model."""

    tag: str = Field(max_length=60)
    interest: str = Field(max_length=60)
    reason: str = Field(max_length=120)


class UserTagsAnswer(BaseModel):
    """LLM_IT's answer for all of a user's interests in one call (tags template v3, the report's 50 tags)."""

    tags: list[UserTag]


def reasoned(model: type[BaseModel]) -> type[BaseModel]:
    """``model`` with a leading ``reasoning`` field: ``{"reasoning": "...", <model's fields>}``."""
    fields = {name: (info.annotation, info) for name, info in model.model_fields.items()}
    return create_model(f"{model.__name__}Reasoned", __doc__=f"{model.__name__} with its reasoning first.",
                        reasoning=(str, Field(max_length=400)), **fields)


InterestsAnswerReasoned = reasoned(InterestsAnswer)
TagsAnswerReasoned = reasoned(TagsAnswer)
UserTagsAnswerReasoned = reasoned(UserTagsAnswer)
ExplanationAnswerReasoned = reasoned(ExplanationAnswer)


def answer_schema(task: str, reasoning: bool = False, per_user: bool = False) -> type[BaseModel]:
    """The answer model of a stage call: ``task`` (interests, tags, explanations), with a leading reasoning
    field or not, and for tags one call per interest or one per user."""
    if task == "tags" and per_user:
        return UserTagsAnswerReasoned if reasoning else UserTagsAnswer
    table = {"interests": (InterestsAnswer, InterestsAnswerReasoned), "tags": (TagsAnswer, TagsAnswerReasoned),
             "explanations": (ExplanationAnswer, ExplanationAnswerReasoned)}
    if task not in table:
        raise ValueError(f"no answer schema for task {task!r} (known: {sorted(table)})")
    return table[task][int(reasoning)]


def strip_reasoning(answer: str | dict) -> str:
    """The answer as compact JSON without its ``reasoning`` field (the stored or trained form when the
    configuration drops reasoning); an answer that is not a JSON object is returned unchanged."""
    data = answer
    if isinstance(answer, str):
        try:
            data = json.loads(answer)
        except ValueError:
            return answer
    if not isinstance(data, dict):
        return answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
    return json.dumps({k: v for k, v in data.items() if k != "reasoning"}, ensure_ascii=False)


def salvage_items(text: str, item_model: type[BaseModel]) -> list[BaseModel]:
    """The complete, valid items of a list answer that was cut off (a weak model that keeps adding items
    until ``max_tokens``): every ``{...}`` after the first ``[`` that parses and validates, in order."""
    decoder = json.JSONDecoder()
    start = text.find("[")
    items: list[BaseModel] = []
    if start < 0:
        return items
    position = start + 1
    while (brace := text.find("{", position)) >= 0:
        try:
            obj, position = decoder.raw_decode(text, brace)
        except ValueError:
            break
        try:
            items.append(item_model.model_validate(obj))
        except ValidationError:
            continue
    return items
