"""Scripted backend for unit tests: answers come from a list (in order) or from a function of the prompt."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from pydantic import Field

from recgpt.config import StrictConfig
from recgpt.llm.base import Backend, BackendError, Completion, DecodingParams, Prompt

Script = Callable[[str], str] | Sequence[str | BaseException]


class FakeOptions(StrictConfig):
    """Options of the ``fake`` backend (YAML ``llm.options.fake``)."""

    answers: list[str] = Field(default_factory=list, description="answers returned in order, one per call")


class FakeBackend(Backend):
    """``FakeBackend(script)``: ``script`` is ``(prompt) -> answer`` or a list of answers returned in order.

    An answer that is an exception instance (e.g. ``TransientBackendError("HTTP 503")``) is raised
    instead, to script failures. The prompt passed to a callable script is the text of the last user message (the rendered template,
    plus the repair note when the runtime asks again). Every prompt received is kept in :attr:`prompts`,
    so tests can count calls and read what was asked. Token counts are whitespace word counts.
    """

    name = "fake.v1"
    Options = FakeOptions
    supports_json_schema = False

    def __init__(self, script: Script, model: str = "fake"):
        self._script = script
        self._next = 0
        self._model = model
        self.prompts: list[str] = []

    @property
    def model_id(self) -> str:
        return self._model

    @property
    def calls(self) -> int:
        return len(self.prompts)

    def complete(
        self, prompt: Prompt, params: DecodingParams, json_schema: dict[str, Any] | None = None
    ) -> Completion:
        text = prompt if isinstance(prompt, str) else prompt[-1]["content"]
        self.prompts.append(text)
        if callable(self._script):
            answer = self._script(text)
        else:
            if self._next >= len(self._script):
                raise BackendError(f"fake backend script exhausted after {len(self._script)} answers")
            answer = self._script[self._next]
            self._next += 1
        if isinstance(answer, BaseException):
            raise answer
        return Completion(answer, len(text.split()), len(answer.split()))

    @classmethod
    def from_config(cls, options: FakeOptions, config) -> "FakeBackend":
        if not options.answers:
            raise BackendError(
                "the fake backend needs scripted answers: set llm.options.fake.answers or pass backend=FakeBackend(...)"
            )
        return cls(list(options.answers))
