"""Configuration of the LLM runtime (YAML block ``llm``): a backend, that backend's own options, and the
runtime's settings shared by every backend::

    llm:
      backend: llama-cpp                 # a registered backend (`recgpt plugins`); "llama-cpp.v1" pins a version
      options:                           # one strict block per backend; only the chosen backend's is used
        llama-cpp: {threads: 2, n_ctx: 4096}
        openai: {base_url: http://localhost:8000/v1, model: qwen3-8b, max_in_flight: 8}
      max_retries: 4                     # retries, repairs, decoding, templates, progress: the runtime's own

Each backend declares its options as a :class:`~recgpt.config.StrictConfig` (its ``Options`` attribute, as
simonw/llm's ``Model.Options``), so a typo in any block is an error naming the key. The flat keys of
earlier versions (``llm.threads``, ``llm.base_url``, ...) still load for this version, with a warning that
names their new place.
"""

from __future__ import annotations

import warnings
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator

from recgpt.config import StrictConfig, validation_lines
from recgpt.errors import UnknownNameError

#: Flat keys of recgpt 0.1 -> (backend family owning them, key in its options; None: the chosen backend).
LEGACY_KEYS: dict[str, tuple[str | None, str]] = {
    "model": (None, "model"),
    "threads": ("llama-cpp", "threads"),
    "n_ctx": ("llama-cpp", "n_ctx"),
    "base_url": ("openai", "base_url"),
    "api_key": ("openai", "api_key"),
    "api_key_env": ("openai", "api_key_env"),
    "max_in_flight": ("openai", "max_in_flight"),
    "timeout_s": ("openai", "timeout_s"),
    "json_mode": ("openai", "json_mode"),
    "fake_answers": ("fake", "answers"),
}


def backend_class(name: str):
    """The registered backend class named ``name`` (a family or a full name)."""
    from recgpt import registry

    return registry.backends.get(name)


def family(name: str) -> str:
    from recgpt.registry import family_of

    return family_of(name)


class LLMConfig(StrictConfig):
    """Configuration of the LLM runtime (YAML block ``llm``); see the module docstring."""

    backend: str = Field("llama-cpp", description="a registered backend: llama-cpp (embedded SmolLM2) | openai | fake")
    options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="backend family -> that backend's own options (see its Options)"
    )
    max_retries: int = Field(4, ge=0, description="retries of a call after a timeout, 429 or 5xx")
    backoff_s: float = Field(1.0, ge=0, description="first retry delay; doubles each retry (with jitter)")
    backoff_max_s: float = Field(30.0, ge=0)
    structured_retries: int = Field(2, ge=0, description="re-asks after an answer fails validation")
    temperature: float = Field(0.0, ge=0, description="0 = greedy decoding")
    seed: int = 0
    system_prompt: str | None = None
    template_dirs: list[str] = Field(default_factory=list, description="extra roots of <task>/v<N>.j2")
    progress: bool = True

    @model_validator(mode="before")
    @classmethod
    def _legacy_flat_keys(cls, data: Any) -> Any:
        """Move the flat backend keys of earlier versions into ``options``, warning where they now belong."""
        if not isinstance(data, dict) or not any(key in data for key in LEGACY_KEYS):
            return data
        data = dict(data)
        options = {name: dict(block or {}) for name, block in (data.get("options") or {}).items()}
        chosen = family(str(data.get("backend", "llama-cpp")))
        for key, (owner, new_key) in LEGACY_KEYS.items():
            if key not in data:
                continue
            value = data.pop(key)
            owner = owner or chosen
            warnings.warn(f"llm.{key} is deprecated and will be refused in the next version: write it as "
                          f"llm.options.{owner}.{new_key}", FutureWarning, stacklevel=2)
            options.setdefault(owner, {}).setdefault(new_key, value)
        data["options"] = options
        return data

    @field_validator("backend")
    @classmethod
    def _registered(cls, value: str) -> str:
        from recgpt import registry

        return registry.backends.checked(value)

    @model_validator(mode="after")
    def _options_match_their_backends(self) -> "LLMConfig":
        for name, block in self.options.items():
            try:
                options_class = backend_class(name).Options
            except UnknownNameError as exc:
                raise ValueError(f"options.{name}: {exc}") from None
            try:
                options_class.model_validate(block or {})
            except ValidationError as exc:
                raise ValueError("; ".join(validation_lines(exc, f"options.{name}."))) from None
        return self

    def backend_options(self, name: str | None = None) -> StrictConfig:
        """The validated options of backend ``name`` (default: the chosen one); defaults where unset."""
        name = name or self.backend
        block = self.options.get(family(name)) or self.options.get(name) or {}
        return backend_class(name).Options.model_validate(block)

    def with_options(self, name: str | None = None, **values: Any) -> "LLMConfig":
        """A copy whose backend ``name`` (default: the chosen one) has ``values`` set (None values ignored)."""
        values = {k: v for k, v in values.items() if v is not None}
        if not values:
            return self
        key = family(name or self.backend)
        options = {k: dict(v) for k, v in self.options.items()}
        options.setdefault(key, {}).update(values)
        return type(self).from_dict({**self.model_dump(), "options": options}, source=f"llm.options.{key}")
