"""Typed configuration of the data area: which source to load (YAML block ``data``) and the column mapping
of a user's own files (the ``custom`` source's YAML). Imports nothing heavy.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from recgpt.config import StrictConfig
from recgpt.data.behaviors import BEHAVIORS


class DataConfig(StrictConfig):
    """Where the data comes from: a registered loader and its path (folder, or mapping YAML for custom)."""

    source: str = Field("amazon-office", description="a registered loader: amazon-office | taobao | custom | ...")
    path: str | None = Field(None, description="default: the bundled copy of the source")
    max_users: int | None = Field(
        None, ge=1, description="keep a seeded subset of users and the items they touch (quick trials, tests)"
    )
    seed: int = 0
    split: Literal["auto", "source", "leave-one-out"] = Field(
        "auto", description="auto: the source's own split, or leave-one-out when it has none; source: the "
        "source's holdout only; leave-one-out: always made from the events (see recgpt.data.split)"
    )
    split_min_events: int = Field(3, ge=2, description="leave-one-out: users with fewer events get no target")

    @field_validator("source")
    @classmethod
    def _registered(cls, value: str) -> str:
        from recgpt import registry

        return registry.loaders.checked(value)


class TableMapping(StrictConfig):
    """Where one canonical table comes from: a file and canonical column -> source column."""

    file: str = Field(description="path of the file, relative to the mapping YAML")
    format: Literal["csv", "parquet", "jsonl"] | None = Field(None, description="default: from the extension")
    delimiter: str = Field(",", description="CSV field separator")
    columns: dict[str, str] = Field(default_factory=dict, description="canonical name -> source column")
    attributes: list[str] = Field(default_factory=list, description="extra source columns kept as attributes")
    behaviors: dict[str, str] | None = Field(None, description="source behavior value -> canonical behavior")
    timestamp_format: str | None = Field(None, description="overrides the top-level timestamp_format")

    def source(self, canonical: str) -> str:
        return self.columns.get(canonical, canonical)


class CustomMapping(StrictConfig):
    """The column-mapping YAML of :func:`load_custom`."""

    name: str = "custom"
    on_error: Literal["raise", "skip"] = "raise"
    timestamp_format: str = Field("unix", description="unix | unix_ms | iso | a strptime pattern")
    items: TableMapping
    events: TableMapping
    users: TableMapping | None = None
    searches: TableMapping | None = None
    holdout: TableMapping | None = None

    @model_validator(mode="after")
    def _check_behaviors(self) -> "CustomMapping":
        for table in (self.events, self.holdout):
            for source, target in (table.behaviors if table and table.behaviors else {}).items():
                if target not in BEHAVIORS:
                    raise ValueError(f"behaviors: {source!r} maps to {target!r}, not one of {', '.join(BEHAVIORS)}")
        return self
