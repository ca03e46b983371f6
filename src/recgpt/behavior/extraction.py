"""Reliable behavior extraction (report 2.1.1): keep intentional behaviors and searches, drop plain clicks.

The kept set is configuration (:attr:`CompressionConfig.behaviors`, default
:data:`~recgpt.data.schema.DEFAULT_RELIABLE_BEHAVIORS`: detail_view, favorite, cart, purchase, review).
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc

from recgpt.config import ConfigError
from recgpt.data.schema import BEHAVIORS, DEFAULT_RELIABLE_BEHAVIORS


def extract_reliable(
    events: pa.Table,
    searches: pa.Table | None = None,
    behaviors: Iterable[str] = DEFAULT_RELIABLE_BEHAVIORS,
    keep_searches: bool = True,
) -> tuple[pa.Table, pa.Table | None]:
    """Return ``(events whose behavior is in behaviors, searches or None)``; row order is kept.

    Searches with an empty query (after stripping spaces) carry no intent and are dropped as well.
    """
    kept = [str(b) for b in behaviors]
    unknown = sorted(set(kept) - set(BEHAVIORS))
    if unknown:
        raise ConfigError(f"unknown behaviors {unknown}; the vocabulary is {', '.join(BEHAVIORS)}")
    reliable = events.filter(pc.is_in(events.column("behavior"), value_set=pa.array(kept, pa.string())))
    if not keep_searches or searches is None:
        return reliable, None
    non_empty = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(searches.column("query"))), 0)
    return reliable, searches.filter(non_empty)
