"""The backend contract: what every LLM backend implements.

In the spirit of simonw/llm, a backend is a small class with one method to implement,
:meth:`Backend.complete`, its own options (a :class:`~recgpt.config.StrictConfig` named ``Options``, the
YAML block ``llm.options.<backend>``), and capability flags the runtime reads to decide how to call it:

- ``supports_json_schema``: the backend constrains decoding to a JSON schema (llama.cpp grammar,
  ``response_format`` on a server); otherwise the runtime relies on prompting plus lenient parsing.
- ``supports_batching``: several calls may be in flight at once (the runtime then uses
  :meth:`Backend.acomplete`, at most :attr:`Backend.max_in_flight` at a time); otherwise one at a time.
- ``batch_size`` > 1: the backend answers groups of calls in one pass (:meth:`Backend.complete_batch`, an
  engine decoding many prompts together); the runtime then sends groups of prompts of similar length.
- ``streaming``: the backend can stream tokens (informative; the runtime does not stream).

Backends join :data:`recgpt.registry.backends` under a versioned name (``llama-cpp.v1``, ``openai.v1``,
``fake.v1``), which is also their ``name`` and part of every cache key; :func:`create_backend` builds the one
an :class:`~recgpt.llm.config.LLMConfig` names. A backend module imports its engine (llama_cpp, openai,
torch) only when the backend is built, so reading a configuration stays light.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Union

from recgpt.config import StrictConfig
from recgpt.errors import RecgptError

if TYPE_CHECKING:
    from recgpt.llm.config import LLMConfig

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


class BackendError(RecgptError):
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


class NoOptions(StrictConfig):
    """A backend without options of its own."""


class Backend(ABC):
    """One way to run an LLM. Subclasses implement :meth:`complete` and :meth:`from_config`, declare their
    ``Options`` and set ``name`` (their registered name) and the capability flags."""

    name: ClassVar[str] = "abstract"
    Options: ClassVar[type[StrictConfig]] = NoOptions
    supports_json_schema: ClassVar[bool] = False
    supports_batching: ClassVar[bool] = False
    streaming: ClassVar[bool] = False
    max_in_flight: int = 1
    batch_size: int = 1

    @classmethod
    def from_config(cls, options: StrictConfig, config: "LLMConfig") -> "Backend":
        """The backend built from its validated ``options`` and the runtime's ``config`` (seed and the like)."""
        raise NotImplementedError(f"{cls.__name__} cannot be built from a configuration")

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

    def complete_batch(
        self, prompts: list[Prompt], params: list[DecodingParams], json_schemas: list[dict[str, Any] | None]
    ) -> list[Completion | Exception]:
        """Answer a group of calls (one entry per prompt, in order); a call that fails gives its exception in its
        place, never raised. The default asks :meth:`complete` once per call; batching engines override it."""
        out: list[Completion | Exception] = []
        for prompt, p, schema in zip(prompts, params, json_schemas):
            try:
                out.append(self.complete(prompt, p, schema))
            except Exception as exc:  # recorded in its place: one bad call must not stop the group
                out.append(exc)
        return out

    async def aclose(self) -> None:
        """Release per-event-loop resources (async HTTP clients) at the end of a batch."""

    def close(self) -> None:
        """Release the model or connections."""


def create_backend(config: "LLMConfig") -> Backend:
    """Build the backend ``config.backend`` names, with its options from ``config.options``."""
    from recgpt import registry

    return registry.backends.get(config.backend).from_config(config.backend_options(), config)
