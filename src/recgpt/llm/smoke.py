"""The answer model of the ``smoke`` template, used by tests, benchmarks and ``recgpt llm`` examples."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Color(BaseModel):
    """Answer of ``templates/smoke``: the usual color of an item, one word."""

    color: str = Field(min_length=1, max_length=30)
