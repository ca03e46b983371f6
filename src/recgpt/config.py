"""Typed configuration shared by the CLI and YAML files.

Every configuration block subclasses :class:`StrictConfig`, which rejects unknown keys, so a typo in a
YAML file is an error that names the key instead of a silently ignored setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from recgpt.errors import RecgptError

T = TypeVar("T", bound="StrictConfig")


class ConfigError(RecgptError, ValueError):
    """A configuration file or value is wrong; the message names the file and the key."""

    exit_code = 2


class StrictConfig(BaseModel):
    """Base for every configuration block: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @classmethod
    def from_yaml(cls: type[T], path: str | Path, overrides: dict[str, Any] | None = None) -> T:
        """Load ``path`` (YAML mapping), apply dotted ``overrides`` such as ``{"llm.backend": "fake"}``."""
        return load_block(cls, path, overrides=overrides)

    @classmethod
    def from_dict(cls: type[T], raw: dict[str, Any], source: str = "<config>") -> T:
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, source)) from exc

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def load_block(
    model: type[T],
    path: str | Path | None,
    block: str | None = None,
    overrides: dict[str, Any] | None = None,
    settings: list[str] | None = None,
) -> T:
    """The ``model`` configuration every command reads: from the YAML file ``path``, then dotted ``overrides``
    (``{"llm.backend": "fake"}``; None values are ignored, so unset flags leave the file alone), then
    ``settings``, ``KEY=VALUE`` strings of a ``--set`` flag (dotted keys allowed, values read as YAML).

    The file gives its ``block:`` mapping when it has one; else nothing when it is a file of other blocks
    (every value a mapping, none of its keys a key of ``model``), so ``model``'s defaults apply; else the whole
    file, checked strictly (a file of just this block: a misspelt key is an error). No ``path``: defaults."""
    raw: dict[str, Any] = {}
    source = "command line"
    if path is not None:
        source = str(path)
        raw = read_yaml_mapping(Path(path))
        if block is not None and block in raw and isinstance(raw[block] or {}, dict):
            raw, source = dict(raw[block] or {}), f"{path} ({block} block)"
        elif (block is not None and not set(raw) & set(model.model_fields)
              and all(isinstance(value, dict) or value is None for value in raw.values())):
            raw = {}
    for dotted, value in (overrides or {}).items():
        if value is not None:
            set_dotted(raw, dotted, value)
    try:
        pairs = parse_key_values(settings or [], "--set")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    for dotted, value in pairs.items():
        set_dotted(raw, dotted, value)
    return model.from_dict(raw, source=source)


def read_yaml_mapping(
    path: Path, error: type[Exception] = ConfigError, what: str = "configuration file"
) -> dict[str, Any]:
    """The YAML mapping in ``path`` (an empty file is ``{}``); ``error`` names the file and what is wrong."""
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError as exc:
        raise error(f"{path}: {what} not found") from exc
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise error(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    return raw


def parse_key_values(pairs: list[str], flag: str) -> dict[str, Any]:
    """{"nprobe": 128} from ["nprobe=128"] (values read as YAML scalars); ValueError naming ``flag`` otherwise."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def set_dotted(mapping: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``mapping["a"]["b"] = value`` for ``dotted == "a.b"``, creating intermediate mappings."""
    *parents, leaf = dotted.split(".")
    node = mapping
    for key in parents:
        if node.get(key) is None:
            node[key] = {}
        node = node[key]
        if not isinstance(node, dict):
            raise ConfigError(f"cannot set {dotted!r}: {key!r} is not a mapping")
    node[leaf] = value


def format_validation_error(exc: ValidationError, source: str) -> str:
    """``SOURCE: invalid configuration`` and one line per problem: ``  dotted.key: what is wrong``."""
    return "\n".join([f"{source}: invalid configuration", *("  " + line for line in validation_lines(exc))])


def validation_lines(exc: ValidationError, prefix: str = "") -> list[str]:
    """One ``dotted.key: what is wrong`` line per error (``prefix`` is put before every key)."""
    lines = []
    for err in exc.errors():
        where = prefix + ".".join(str(p) for p in err["loc"])
        message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return lines
