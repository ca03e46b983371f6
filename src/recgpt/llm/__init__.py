"""The LLM runtime: backends, structured answers, persistent cache, resumable batches.

Public names: :class:`LLMConfig` (:mod:`recgpt.llm.config`), :class:`LLMRequest`, :class:`LLMResult`,
:class:`LLMRuntime` (:mod:`recgpt.llm.runtime`) and :class:`FakeBackend` (:mod:`recgpt.llm.fake`).
"""

from recgpt.llm.config import LLMConfig
from recgpt.llm.fake import FakeBackend
from recgpt.llm.runtime import LLMRequest, LLMResult, LLMRuntime

__all__ = ["FakeBackend", "LLMConfig", "LLMRequest", "LLMResult", "LLMRuntime"]
