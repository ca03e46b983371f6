"""Request and result records of the LLM runtime (re-exported by :mod:`recgpt.llm.runtime`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel


@dataclass
class LLMRequest:
    """One call: render template ``task`` (``version`` or the latest) with ``variables``; when ``schema`` is
    given, the answer must validate as that pydantic model. ``key`` is the caller's id for the call."""

    key: str
    task: str
    variables: dict[str, Any] = field(default_factory=dict)
    schema: type[BaseModel] | None = None
    version: str | None = None
    max_tokens: int = 512


@dataclass
class LLMResult:
    """Outcome of one request. ``ok`` is False when every attempt failed: ``error`` then says why and
    ``value`` is None. ``text`` is the accepted answer (or the last one received when validation failed).
    Token counts add up every attempt made for this request; ``latency_s`` is its wall time."""

    key: str
    ok: bool
    value: BaseModel | None
    text: str
    error: str | None
    cached: bool
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    task: str = ""
    version: str = ""
    attempts: int = 0  # backend calls made (retries and repairs included); 0 for a cache hit
