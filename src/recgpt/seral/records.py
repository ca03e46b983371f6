"""Every record of the seral area, with the Arrow schema of the table it is stored in.

    truth.parquet       SerendipityLabel     one held-out next item per user, serendipitous or not
    profiles.parquet    CognitionProfile     multi-level profile per user, with its version (a content hash)
    candidates.parquet  Candidate            offline candidate sets (the real serendipitous item + others)
    pairs.parquet       PreferencePair       chosen / rejected items per user, with where the pair came from
    judgments.sqlite    Judgment             the channel's cached SerenGPT judgments
    channel.parquet     ChannelSlot          the final lists (base items and reserved serendipity slots)

Lists of categories are stored as Arrow lists of strings; :func:`write_records` and :func:`read_records` turn
records into tables and back.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from recgpt.errors import MissingInputError

R = TypeVar("R")
_STRS = pa.list_(pa.string())


@dataclass
class SerendipityLabel:
    """A user's held-out next item of ``fold``: serendipitous when its ``category`` (at the configured
    granularity) is not among the ``history_categories`` categories the user touched before."""

    user_id: str
    item_id: str
    fold: str
    category: str
    serendipitous: bool
    history_items: int
    history_categories: int


@dataclass
class CognitionProfile:
    """Multi-level profile of one user (SERAL stage 1): ``long_term`` (the most frequent categories of the
    whole history), ``recent`` (the categories of the latest behaviors), ``neighbours`` (never-touched
    categories that co-occur with the user's ones across users), ``familiar`` (every touched category).
    ``version`` is a hash of the content: the channel's cache key."""

    user_id: str
    long_term: list[str]
    recent: list[str]
    neighbours: list[str]
    familiar: list[str]
    recent_titles: list[str] = field(default_factory=list)
    interests: list[str] = field(default_factory=list)  # the interest stage's mined interests, when it ran
    history_items: int = 0
    version: str = ""

    def __post_init__(self) -> None:
        if not self.version:
            self.version = profile_version(self)

    def text(self) -> dict[str, str]:
        """The profile as the prompt shows it."""
        return {"long_term": ", ".join(self.long_term) or "(none)", "recent": ", ".join(self.recent) or "(none)",
                "recent_items": "; ".join(self.recent_titles) or "(none)",
                "neighbours": ", ".join(self.neighbours) or "(none)",
                "interests": "; ".join(self.interests) or "(none)"}


def profile_version(profile: CognitionProfile) -> str:
    body = [profile.long_term, profile.recent, profile.neighbours, sorted(profile.familiar), profile.recent_titles,
            profile.interests]
    return hashlib.sha256(json.dumps(body, ensure_ascii=False).encode()).hexdigest()[:16]


@dataclass
class Candidate:
    """One item of a user's offline candidate set; ``source``: target (the real serendipitous next item),
    neighbour (a never-touched neighbouring category) or new (any other never-touched category)."""

    user_id: str
    item_id: str
    category: str
    source: str
    is_target: bool


@dataclass
class PreferencePair:
    """One preference of SerenGPT: for ``user_id``, ``chosen_item`` is serendipitous and ``rejected_item`` is
    not. ``kind``: new-not-taken (a never-touched category the user did not take), familiar (a category
    the user already has), collaborative (the chosen item is a similar user's serendipitous next item, see
    :mod:`recgpt.seral.pairs`), human (a label of the labelling page). ``split``: train or heldout."""

    user_id: str
    chosen_item: str
    rejected_item: str
    kind: str
    split: str = "train"
    donor: str = ""  # collaborative: the similar user the chosen item was borrowed from


@dataclass
class Judgment:
    """A scorer's judgment of one candidate for one profile version: ``score`` in [0, 1] (1: serendipitous),
    the verdict and its reason (empty for non-LLM scorers)."""

    user_id: str
    profile_version: str
    item_id: str
    scorer: str
    score: float
    verdict: str
    reason: str = ""


@dataclass
class ChannelSlot:
    """One slot of a final list: ``channel`` base (the base retriever) or serendipity (a reserved slot)."""

    user_id: str
    rank: int
    item_id: str
    channel: str
    score: float


_TYPES: dict[Any, pa.DataType] = {str: pa.string(), "str": pa.string(), bool: pa.bool_(), "bool": pa.bool_(),
                                  int: pa.int64(), "int": pa.int64(), float: pa.float64(), "float": pa.float64(),
                                  "list[str]": _STRS}


def schema_of(cls: type) -> pa.Schema:
    """The Arrow schema of a record class (its fields in order)."""
    return pa.schema([pa.field(f.name, _TYPES[f.type]) for f in fields(cls)])


def write_records(path: str | Path, records: list, cls: type) -> Path:
    """Parquet of ``records`` (instances of ``cls``), written beside and renamed into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist([asdict(r) for r in records], schema=schema_of(cls))
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


def read_records(path: str | Path, cls: type[R]) -> list[R]:
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"{path}: not written yet (see `recgpt seral --help`)")
    return [cls(**row) for row in pq.read_table(path).to_pylist()]
