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
    batch_size: int = Field(1, ge=1, description="groups of calls answered through complete_batch (tests)")


class FakeBackend(Backend):
    """``FakeBackend(script, batch_size=1)``: ``script`` is ``(prompt) -> answer`` or a list of answers
    returned in order; with ``batch_size`` > 1 the runtime asks it in groups (:attr:`batches` records them).

    An answer that is an exception instance (e.g. ``TransientBackendError("HTTP 503")``) is raised
    instead, to script failures. The prompt passed to a callable script is the text of the last user message (the rendered template,
    plus the repair note when the runtime asks again). Every prompt received is kept in :attr:`prompts`,
    so tests can count calls and read what was asked. Token counts are whitespace word counts.
    """

    name = "fake.v1"
    Options = FakeOptions
    supports_json_schema = False

    def __init__(self, script: Script, model: str = "fake", batch_size: int = 1):
        self._script = script
        self._next = 0
        self._model = model
        self.batch_size = batch_size
        self.prompts: list[str] = []
        self.batches: list[int] = []  # sizes of the groups asked through complete_batch

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

    def complete_batch(self, prompts, params, json_schemas):
        self.batches.append(len(prompts))
        return super().complete_batch(prompts, params, json_schemas)

    @classmethod
    def from_config(cls, options: FakeOptions, config) -> "FakeBackend":
        if not options.answers:
            raise BackendError(
                "the fake backend needs scripted answers: set llm.options.fake.answers or pass backend=FakeBackend(...)"
            )
        return cls(list(options.answers), batch_size=options.batch_size)
