"""Scorers of serendipity candidates, registered in ``registry.seral_scorers`` with versioned names.

The contract (checked for every scorer by ``tests/suites/seral_scorer.py``)::

    scorer = registry.seral_scorers.get("popular-new.v1").build(context)
    judgments = scorer.score([(profile, item_id), ...])   # one Judgment per pair, in order

A judgment's ``score`` is in [0, 1], higher meaning more serendipitous; ``verdict`` is "yes" or "no" and
``scorer`` the scorer's full name; ``profile_version`` is the profile's. Scoring is deterministic: the same
pairs give the same judgments. Ties are allowed; the evaluation counts them as a random order would.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from recgpt.seral.config import SeralConfig
from recgpt.seral.records import CognitionProfile, Judgment


@dataclass
class ScorerContext:
    """What a scorer may read: items' ``category`` (at the configured granularity) and ``titles``,
    ``popularity`` (interactions per item in the visible history), the configuration, and for LLM scorers the
    run folder (answer cache) and optionally a ``backend`` object (tests pass the scripted fake)."""

    category: dict[str, str]
    titles: dict[str, str]
    popularity: dict[str, int]
    config: SeralConfig = field(default_factory=SeralConfig)
    run: Any = None  # RunFolder | None
    backend: Any = None  # recgpt.llm.base.Backend | None


class Scorer(Protocol):
    name: str

    @classmethod
    def build(cls, context: ScorerContext) -> "Scorer": ...

    def score(self, pairs: list[tuple[CognitionProfile, str]]) -> list[Judgment]: ...


class _PerPairScorer:
    """A scorer that judges each (profile, item) pair on its own: ``_judge(profile, item) -> (score, verdict)``."""

    name = ""

    def __init__(self, context: ScorerContext):
        self.context = context

    @classmethod
    def build(cls, context: ScorerContext):
        return cls(context)

    def _judge(self, profile: CognitionProfile, item: str) -> tuple[float, str]:
        raise NotImplementedError

    def score(self, pairs: list[tuple[CognitionProfile, str]]) -> list[Judgment]:
        return [Judgment(p.user_id, p.version, item, self.name, *self._judge(p, item)) for p, item in pairs]


class PopularNewScorer(_PerPairScorer):
    """popular-new.v1, the non-LLM baseline: an item of a category the user never touched scores
    ``0.5 + 0.5 * log(1 + n) / log(1 + n_max)`` (n: its interactions), an item of a familiar category
    ``0.49 * log(1 + n) / log(1 + n_max)``, below every new one; verdict "yes" for new categories."""

    name = "popular-new.v1"

    def __init__(self, context: ScorerContext):
        super().__init__(context)
        self.top = math.log1p(max(context.popularity.values(), default=0) or 1)

    def _judge(self, profile: CognitionProfile, item: str) -> tuple[float, str]:
        pop = math.log1p(self.context.popularity.get(item, 0)) / self.top
        new = self.context.category.get(item) not in set(profile.familiar)
        return (0.5 + 0.5 * pop, "yes") if new else (0.49 * pop, "no")


class RandomScorer(_PerPairScorer):
    """random.v1: a seeded pseudo-random score per (user, item) (the chance level of the offline evaluation)."""

    name = "random.v1"

    def _judge(self, profile: CognitionProfile, item: str) -> tuple[float, str]:
        value = stable_seed(self.context.config.candidates.seed, profile.user_id, item) / 2**32
        return value, "yes" if value >= 0.5 else "no"


def build_scorer(name: str, context: ScorerContext) -> Scorer:
    """The registered scorer ``name`` (a family or a full name) built on ``context``."""
    from recgpt import registry

    return registry.seral_scorers.get(name).build(context)


def stable_seed(*parts: Any) -> int:
    """A seed from ``parts`` that does not change between processes (unlike ``hash``)."""
    return zlib.crc32("|".join(str(p) for p in parts).encode())
