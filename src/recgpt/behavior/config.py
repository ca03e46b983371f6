"""Typed configuration of reliable behavior extraction, item texts and hierarchical compression
(YAML block ``compression``). Imports nothing heavy: reading a configuration never loads a model.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, field_validator

from recgpt.config import StrictConfig
from recgpt.data.behaviors import BEHAVIORS, DEFAULT_RELIABLE_BEHAVIORS


class ItemTextConfig(StrictConfig):
    """How each item's text is compressed."""

    max_title_words: int = Field(14, ge=1, description="title words kept (after noise removal)")
    max_chars: int = Field(120, ge=20, description="hard cap on the whole item text")
    include_brand: bool = Field(True, description="prefix the brand when the title does not name it")
    include_category: bool = Field(True, description="append the category in parentheses")
    category_attribute: str | None = Field(
        "leaf_category", description="attribute to use as the category when an item has it (finer than category)"
    )
    key_attributes: list[str] = Field(
        default_factory=lambda: ["color", "size", "material", "style"],
        description="attributes appended as 'name: value' when present",
    )


class CompressionConfig(StrictConfig):
    """Reliable behavior extraction and hierarchical compression settings."""

    behaviors: list[str] = Field(
        default_factory=lambda: [str(b) for b in DEFAULT_RELIABLE_BEHAVIORS],
        description="behaviors kept as reliable; plain clicks are left out by default",
    )
    include_searches: bool = Field(True, description="keep search queries (rendered as `Period (search) | q1, q2`)")
    fold: Literal["dev", "test", "all"] = Field(
        "test", description="history to compress: 'dev' = events, 'test' = events + dev targets, 'all'"
    )
    reference_date: date | None = Field(None, description="'now' for the partitions; default: latest event")
    day_window_days: int = Field(30, ge=0, description="events this recent are partitioned by day")
    month_window_days: int = Field(365, ge=0, description="then by month up to this age, by year beyond")
    count_repeats: bool = Field(True, description="repeated (item, behavior, period) render as `behavior xN`")
    token_budget: int | None = Field(4096, ge=1, description="max tokens per user; None = no limit")
    tokenizer: str = Field("smollm2", description="smollm2 | approx[:CHARS] | gguf:PATH | hf:NAME")
    item_text: ItemTextConfig = Field(default_factory=ItemTextConfig)

    @field_validator("behaviors")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(BEHAVIORS))
        if unknown:
            raise ValueError(f"unknown behaviors {unknown}; the vocabulary is {', '.join(BEHAVIORS)}")
        return value
