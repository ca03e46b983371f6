"""The LLM runtime: backends, structured answers, persistent cache, resumable batches.

Public names: :class:`LLMConfig`, :class:`LLMRequest`, :class:`LLMResult`, :class:`LLMRuntime`
(module :mod:`recgpt.llm.runtime`) and :class:`FakeBackend` (:mod:`recgpt.llm.fake`).
"""

from recgpt.llm.fake import FakeBackend
from recgpt.llm.runtime import LLMConfig, LLMRequest, LLMResult, LLMRuntime

__all__ = ["FakeBackend", "LLMConfig", "LLMRequest", "LLMResult", "LLMRuntime"]
