"""Typed configuration shared by the CLI and YAML files.

Every configuration block subclasses :class:`StrictConfig`, which rejects unknown keys, so a typo in a
YAML file is an error that names the key instead of a silently ignored setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

T = TypeVar("T", bound="StrictConfig")


class ConfigError(ValueError):
    """A configuration file or value is wrong; the message names the file and the key."""


class StrictConfig(BaseModel):
    """Base for every configuration block: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @classmethod
    def from_yaml(cls: type[T], path: str | Path, overrides: dict[str, Any] | None = None) -> T:
        """Load ``path`` (YAML mapping), apply dotted ``overrides`` such as ``{"llm.backend": "fake"}``."""
        path = Path(path)
        raw = read_yaml_mapping(path)
        for dotted, value in (overrides or {}).items():
            set_dotted(raw, dotted, value)
        return cls.from_dict(raw, source=str(path))

    @classmethod
    def from_dict(cls: type[T], raw: dict[str, Any], source: str = "<config>") -> T:
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, source)) from exc

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


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
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"cannot set {dotted!r}: {key!r} is not a mapping")
    node[leaf] = value


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid configuration"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "<root>"
        if err["type"] == "extra_forbidden":
            lines.append(f"  {where}: unknown key")
        else:
            lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)
