"""Structured answers: a pydantic model becomes a JSON schema; model text becomes a validated instance.

Parsing is lenient because weak models wrap JSON in code fences, add prose before or after it, put raw
newlines or tabs inside strings, or leave a trailing comma. Validation is strict (the pydantic model).
When validation fails the runtime asks again with :func:`repair_note` appended to the prompt.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ValidationError

from recgpt.errors import RecgptError

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


class StructuredOutputError(RecgptError, ValueError):
    """The text could not be read as JSON matching the answer model; the message says why."""


@lru_cache(maxsize=256)
def json_schema_for(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of ``model`` (pydantic's, with ``$defs`` references), cached per class."""
    return model.model_json_schema()


@lru_cache(maxsize=256)
def model_fingerprint(model: type[BaseModel]) -> str:
    """:func:`schema_fingerprint` of ``model``'s schema, cached per class."""
    return schema_fingerprint(json_schema_for(model))


def schema_fingerprint(schema: dict[str, Any] | None) -> str:
    """Stable short hash of a schema, for cache keys and grammar caches."""
    if schema is None:
        return "none"
    return hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()[:16]


def _scan(text: str):
    """Yield ``(index, char, inside)``; ``inside`` is True for characters within a JSON string literal
    (its quotes excluded), so brackets and control characters can be told apart from string content."""
    inside = escaped = False
    for i, ch in enumerate(text):
        if not inside:
            inside = ch == '"'
            yield i, ch, False
        elif escaped:
            escaped = False
            yield i, ch, True
        elif ch == '"':
            inside = False
            yield i, ch, False
        else:
            escaped = ch == "\\"
            yield i, ch, True


def extract_json_text(text: str) -> str:
    """The JSON value inside ``text``: the content of a code fence if there is one, then the first
    balanced ``{...}`` or ``[...]``; prose around it is dropped. Raises if no JSON value starts."""
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1)
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        raise StructuredOutputError("no JSON object or array in the answer")
    start, depth = min(starts), 0
    for i, ch, inside in _scan(text[start:]):
        if not inside and ch in "{[":
            depth += 1
        elif not inside and ch in "}]":
            depth -= 1
            if depth == 0:
                return text[start : start + i + 1]
    raise StructuredOutputError("the JSON in the answer is cut off (unbalanced brackets; max_tokens too small?)")


def _escape_control_chars_in_strings(text: str) -> str:
    escapes = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
    return "".join(
        (escapes.get(ch, f"\\u{ord(ch):04x}") if inside and ord(ch) < 0x20 else ch) for _, ch, inside in _scan(text)
    )


def loads_lenient(text: str) -> Any:
    """Parse the JSON value in ``text`` tolerating fences, surrounding prose, raw control characters in
    strings and trailing commas."""
    try:
        return json.loads(text)  # the common case: the answer is exactly one JSON value
    except json.JSONDecodeError:
        pass
    candidate = extract_json_text(text)
    try:
        return json.loads(candidate)
    except json.JSONDecodeError:
        pass
    repaired = _TRAILING_COMMA.sub(r"\1", _escape_control_chars_in_strings(candidate))
    try:
        return json.loads(repaired)
    except json.JSONDecodeError as exc:
        raise StructuredOutputError(f"invalid JSON: {exc.msg} at character {exc.pos}") from exc


def parse_answer(text: str, model: type[BaseModel]) -> BaseModel:
    """Read ``text`` as an instance of ``model``; raise :class:`StructuredOutputError` saying what is wrong."""
    data = loads_lenient(text)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise StructuredOutputError(f"does not match the answer schema: {problems}") from exc


def repair_note(error: str, schema: dict[str, Any]) -> str:
    """Text appended to the prompt when asking again after an invalid answer."""
    return (
        f"\n\nYour previous answer was rejected: {error}.\n"
        f"Answer again with only one JSON value that matches this JSON schema, and nothing else:\n"
        f"{json.dumps(schema, separators=(',', ':'))}"
    )
