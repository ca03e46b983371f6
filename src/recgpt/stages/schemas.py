"""Answer schemas of the three LLM stages (pydantic), handed to the runtime as the JSON schema of the answer.

They follow Appendix B's output formats with short lowercase keys a weak model copies reliably. List
lengths are bounded so that a constrained decoder cannot loop forever on a repeating model.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class MinedInterest(BaseModel):
    """One interest: Appendix B's {"Interest", "Stage", "Reason"} (the id is assigned by the stage)."""

    interest: str = Field(max_length=80)
    stage: Literal["listed", "extended"]
    reason: str = Field(max_length=200)


class InterestsAnswer(BaseModel):
    """LLM_UI's answer: {"interests": [{"interest", "stage", "reason"}, ...]}."""

    interests: list[MinedInterest] = Field(max_length=12)


class PredictedTag(BaseModel):
    """One tag of a per-interest call; the interest of the triplet is the one the call asked about."""

    tag: str = Field(max_length=80)
    reason: str = Field(max_length=200)


class TagsAnswer(BaseModel):
    """LLM_IT's answer for one interest: {"tags": [{"tag", "reason"}, ...]}."""

    tags: list[PredictedTag] = Field(max_length=20)


class ExplanationAnswer(BaseModel):
    """LLM_RE's answer: Appendix B's {"Explanation": "..."}."""

    explanation: str = Field(max_length=120)
