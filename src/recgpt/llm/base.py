"""The backend contract: what every LLM backend implements, and the one registry they all join.

In the spirit of simonw/llm, a backend is a small class with one method to implement,
:meth:`Backend.complete`, plus capability flags the runtime reads to decide how to call it:

- ``supports_json_schema``: the backend constrains decoding to a JSON schema (llama.cpp grammar,
  ``response_format`` on a server); otherwise the runtime relies on prompting plus lenient parsing.
- ``supports_batching``: several calls may be in flight at once (the runtime then uses
  :meth:`Backend.acomplete` under a bound of ``max_in_flight``); otherwise calls run one at a time.
- ``streaming``: the backend can stream tokens (informative; the runtime does not stream).

Backends register with :func:`register_backend` under a name (``llama-cpp``, ``openai``, ``fake``) and are
built from an :class:`~recgpt.llm.runtime.LLMConfig` by :func:`create_backend`.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Union

if TYPE_CHECKING:
    from recgpt.llm.runtime import LLMConfig

ChatMessage = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}
Prompt = Union[str, list[ChatMessage]]


@dataclass(frozen=True)
class DecodingParams:
    """Decoding parameters of one call; part of the cache key. ``temperature == 0`` means greedy."""

    max_tokens: int = 512
    temperature: float = 0.0
    seed: int | None = 0

    def as_dict(self) -> dict[str, Any]:
        return {"max_tokens": self.max_tokens, "temperature": self.temperature, "seed": self.seed}


@dataclass(frozen=True)
class Completion:
    """The backend's answer to one call: raw text and token counts as the backend reported them."""

    text: str
    prompt_tokens: int
    completion_tokens: int


class BackendError(Exception):
    """A call failed for a reason a retry will not fix (bad request, missing model, exhausted script)."""


class TransientBackendError(BackendError):
    """A call failed for a reason a retry may fix: timeout, connection error, HTTP 429 or 5xx,
    an unreadable response body. ``retry_after_s`` is the server's hint, when it gave one."""

    def __init__(self, reason: str, retry_after_s: float | None = None):
        super().__init__(reason)
        self.retry_after_s = retry_after_s


def as_messages(prompt: Prompt, system_prompt: str | None = None) -> list[ChatMessage]:
    """A plain prompt becomes one user message (after an optional system message)."""
    if isinstance(prompt, str):
        messages: list[ChatMessage] = [{"role": "user", "content": prompt}]
    else:
        messages = list(prompt)
    if system_prompt and not any(m["role"] == "system" for m in messages):
        messages.insert(0, {"role": "system", "content": system_prompt})
    return messages


class Backend(ABC):
    """One way to run an LLM. Subclasses implement :meth:`complete` and set the capability flags."""

    name: ClassVar[str] = "abstract"
    supports_json_schema: ClassVar[bool] = False
    supports_batching: ClassVar[bool] = False
    streaming: ClassVar[bool] = False

    @property
    @abstractmethod
    def model_id(self) -> str:
        """The model's identity as it enters the cache key (a file name and size, a served model name)."""

    @abstractmethod
    def complete(
        self, prompt: Prompt, params: DecodingParams, json_schema: dict[str, Any] | None = None
    ) -> Completion:
        """Answer ``prompt``. With ``json_schema`` and ``supports_json_schema``, the text is constrained to
        the schema. Raise :class:`TransientBackendError` for failures worth retrying, :class:`BackendError`
        for the others."""

    async def acomplete(
        self, prompt: Prompt, params: DecodingParams, json_schema: dict[str, Any] | None = None
    ) -> Completion:
        """Async form used by the batch runner. The default runs :meth:`complete` inline, which is right for
        backends that compute in-process one call at a time; network backends override it."""
        return self.complete(prompt, params, json_schema)

    async def aclose(self) -> None:
        """Release per-event-loop resources (async HTTP clients) at the end of a batch."""

    def close(self) -> None:
        """Release the model or connections."""


BackendFactory = Callable[["LLMConfig"], Backend]
_REGISTRY: dict[str, BackendFactory] = {}
# Built-in backends live in modules imported on first use, so that importing the runtime does not
# import llama_cpp or openai.
_BUILTIN_MODULES = {
    "llama-cpp": "recgpt.llm.llama_cpp_backend",
    "openai": "recgpt.llm.openai_backend",
    "fake": "recgpt.llm.fake",
}


def register_backend(name: str) -> Callable[[BackendFactory], BackendFactory]:
    """Decorator: ``@register_backend("name")`` on a function ``(config) -> Backend`` (or on the class)."""

    def decorate(factory: BackendFactory) -> BackendFactory:
        _REGISTRY[name] = factory
        return factory

    return decorate


def available_backends() -> list[str]:
    return sorted(set(_REGISTRY) | set(_BUILTIN_MODULES))


def create_backend(config: "LLMConfig") -> Backend:
    """Build the backend named by ``config.backend``."""
    name = config.backend
    if name not in _REGISTRY and name in _BUILTIN_MODULES:
        importlib.import_module(_BUILTIN_MODULES[name])
    if name not in _REGISTRY:
        raise ValueError(f"unknown LLM backend {name!r}; available: {', '.join(available_backends())}")
    return _REGISTRY[name](config)
