"""Any OpenAI-compatible chat-completions server: vLLM, SGLang, Ollama, llama.cpp server, a hosted API.

Options (``llm.options.openai``): ``base_url`` (e.g. ``http://localhost:8000/v1``), ``model`` (the served
name; when unset, the first model the server lists), the key from ``api_key`` or the environment variable
named by ``api_key_env`` (servers that need none get a dummy). Batches use ``AsyncOpenAI`` with at most
``max_in_flight`` requests at once (the runner bounds it). The client's own retries are off: the runner
retries timeouts, 429 and 5xx itself so every failure is counted and recorded.

JSON schemas go out as ``response_format``. Servers differ in what they accept, so with ``json_mode:
auto`` the backend tries, in order, ``json_schema`` (OpenAI, vLLM, SGLang, Ollama), ``json_object`` with a
``schema`` (llama.cpp server), plain ``json_object``, then no constraint, and keeps the first the server
accepts.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from recgpt.config import StrictConfig
from recgpt.llm.base import Backend, BackendError, Completion, DecodingParams, Prompt, TransientBackendError, as_messages

if TYPE_CHECKING:
    import openai

JSON_MODES = ["json_schema", "json_object_schema", "json_object", "none"]


def response_format(mode: str, schema: dict[str, Any]) -> dict[str, Any] | None:
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": False}}
    if mode == "json_object_schema":
        return {"type": "json_object", "schema": schema}
    if mode == "json_object":
        return {"type": "json_object"}
    return None


class OpenAIOptions(StrictConfig):
    """Options of the ``openai`` backend (YAML ``llm.options.openai``)."""

    base_url: str | None = Field(None, description="server URL, e.g. http://localhost:8000/v1")
    model: str | None = Field(None, description="served model name (default: the first the server lists)")
    api_key: str | None = Field(None, description="the key itself (prefer api_key_env)")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the key")
    max_in_flight: int = Field(4, ge=1, description="concurrent requests in a batch")
    timeout_s: float = Field(120.0, gt=0, description="per-request timeout")
    json_mode: Literal["auto", "json_schema", "json_object", "none"] = Field(
        "auto", description="response_format to send; auto steps down until the server accepts one"
    )


def _retry_after(exc: "openai.APIStatusError") -> float | None:
    value = exc.response.headers.get("retry-after") if exc.response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class OpenAIBackend(Backend):
    """``OpenAIBackend(base_url, model=None, api_key=None, timeout_s=120, json_mode="auto")``."""

    name = "openai.v1"
    Options = OpenAIOptions
    supports_json_schema = True
    supports_batching = True
    streaming = True

    def __init__(
        self,
        base_url: str | None,
        model: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        json_mode: str = "auto",
        max_in_flight: int = 4,
    ):
        import openai

        self.base_url = base_url
        self.max_in_flight = max_in_flight
        self.api_key = api_key or "not-needed"
        self.timeout_s = timeout_s
        self._model = model
        # "auto" walks down JSON_MODES until the server accepts one; otherwise the mode asked for, only
        self._modes = JSON_MODES if json_mode == "auto" else [json_mode]
        self._client = openai.OpenAI(base_url=base_url, api_key=self.api_key, timeout=timeout_s, max_retries=0)
        self._async: dict[int, openai.AsyncOpenAI] = {}
        self._token_param = "max_tokens"

    @property
    def model_id(self) -> str:
        if self._model is None:
            import openai

            try:
                models = self._client.models.list().data
            except openai.OpenAIError as exc:
                raise BackendError(f"{self.base_url}: cannot list models to pick one ({exc}); set llm.options.openai.model") from exc
            if not models:
                raise BackendError(f"{self.base_url}: the server lists no model; set llm.options.openai.model")
            self._model = models[0].id
        return self._model

    @property
    def json_mode(self) -> str:
        """The response_format mode in use (the first one the server accepted, under ``auto``)."""
        return self._modes[0]

    def _request(self, prompt: Prompt, params: DecodingParams, json_schema: dict[str, Any] | None, mode: str):
        kwargs: dict[str, Any] = {
            "model": self.model_id, "messages": as_messages(prompt), self._token_param: params.max_tokens,
            "temperature": params.temperature,
        }
        if params.seed is not None:
            kwargs["seed"] = params.seed
        fmt = response_format(mode, json_schema) if json_schema is not None else None
        if fmt is not None:
            kwargs["response_format"] = fmt
        return kwargs

    @staticmethod
    def _completion(response) -> Completion:
        try:
            text = response.choices[0].message.content or ""
        except (AttributeError, IndexError, TypeError) as exc:
            raise TransientBackendError(f"unreadable response: {exc}") from exc
        usage = response.usage
        return Completion(text, getattr(usage, "prompt_tokens", 0) or 0, getattr(usage, "completion_tokens", 0) or 0)

    def _translate(self, exc: Exception) -> Exception:
        import openai

        if isinstance(exc, openai.APITimeoutError):
            return TransientBackendError(f"timeout after {self.timeout_s:g} s")
        if isinstance(exc, openai.APIConnectionError):
            return TransientBackendError(f"connection error: {exc}")
        if isinstance(exc, openai.APIStatusError):
            reason = f"HTTP {exc.status_code}: {str(exc)[:300]}"
            if exc.status_code == 429 or exc.status_code >= 500:
                return TransientBackendError(reason, _retry_after(exc))
            return BackendError(reason)
        if isinstance(exc, (openai.APIResponseValidationError, json.JSONDecodeError, ValueError)):
            return TransientBackendError(f"unreadable response body: {str(exc)[:300]}")
        return exc

    def _format_rejected(self, exc: Exception, json_schema: dict[str, Any] | None) -> bool:
        """The server refused the response_format (a 400/422, or a 5xx naming it, as llama.cpp's server
        answers): try the next, plainer format."""
        import openai

        if json_schema is None or len(self._modes) <= 1 or not isinstance(exc, openai.APIStatusError):
            return False
        if exc.status_code in (400, 422):
            return True
        message = str(exc)
        return exc.status_code >= 500 and any(w in message for w in ("response_format", "json_schema", "json_object"))

    def _adapt(self, exc: Exception, json_schema: dict[str, Any] | None, mode: str, token_param: str) -> bool:
        """Learn from a refused request: step down the response_format, or name the length limit
        ``max_completion_tokens`` (newer OpenAI models refuse ``max_tokens``). True: send it again."""
        import openai

        if self._format_rejected(exc, json_schema):
            if self._modes[0] == mode:  # another request in flight may have stepped down already
                self._modes = self._modes[1:]
            return True
        if (isinstance(exc, openai.BadRequestError) and token_param == "max_tokens"
                and "max_completion_tokens" in str(exc)):
            self._token_param = "max_completion_tokens"
            return True
        return False

    def complete(self, prompt: Prompt, params: DecodingParams, json_schema: dict[str, Any] | None = None) -> Completion:
        while True:
            mode, token_param = self._modes[0], self._token_param
            try:
                response = self._client.chat.completions.create(**self._request(prompt, params, json_schema, mode))
                return self._completion(response)
            except Exception as exc:
                if not self._adapt(exc, json_schema, mode, token_param):
                    raise self._translate(exc) from exc

    async def acomplete(self, prompt: Prompt, params: DecodingParams, json_schema: dict[str, Any] | None = None) -> Completion:
        client = self._async_client()
        while True:
            mode, token_param = self._modes[0], self._token_param
            try:
                response = await client.chat.completions.create(**self._request(prompt, params, json_schema, mode))
                return self._completion(response)
            except Exception as exc:
                if not self._adapt(exc, json_schema, mode, token_param):
                    raise self._translate(exc) from exc

    def _async_client(self) -> "openai.AsyncOpenAI":
        import openai

        loop = id(asyncio.get_running_loop())
        if loop not in self._async:
            self._async[loop] = openai.AsyncOpenAI(
                base_url=self.base_url, api_key=self.api_key, timeout=self.timeout_s, max_retries=0
            )
        return self._async[loop]

    async def aclose(self) -> None:
        client = self._async.pop(id(asyncio.get_running_loop()), None)
        if client is not None:
            await client.close()

    @classmethod
    def from_config(cls, options: OpenAIOptions, config) -> "OpenAIBackend":
        key = options.api_key or os.environ.get(options.api_key_env)
        if not options.base_url and not key:
            raise BackendError(
                "the openai backend needs llm.options.openai.base_url (a local server) or an API key "
                f"(llm.options.openai.api_key or the environment variable {options.api_key_env})"
            )
        return cls(options.base_url, options.model, key, options.timeout_s, options.json_mode, options.max_in_flight)

    def close(self) -> None:
        self._client.close()
