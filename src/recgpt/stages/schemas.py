"""Answer schemas of the three LLM stages (pydantic), handed to the runtime as the JSON schema of the answer.

They follow Appendix B's output formats with short lowercase keys a weak model copies reliably.

Strings are bounded (a 135M model otherwise rambles until ``max_tokens`` and the JSON is cut), lists are
not: llama.cpp turns a bound of N into N nested optional grammar rules, and a bounded list of objects with
bounded strings made sampling many times slower. ``max_tokens`` bounds the list; the post-checks cap counts.
"""

from __future__ import annotations

from typing import Literal

import json

from pydantic import BaseModel, Field, ValidationError


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
