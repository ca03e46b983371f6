"""What the LLM stages know about a user: attributes, compressed behavior, behavior sequences, 'today'.

``build_contexts(dataset, user_ids, fold, ...)`` -> ``{user_id: UserContext}``. Histories come from
``dataset.history(fold)`` (so the test fold sees train + dev, never its own target), item texts from
``recgpt.behavior.item_text.item_texts`` and the compressed behavior from ``recgpt.behavior.compression``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recgpt.stages.text import to_date

#: Behaviors shown as the "viewed" sequence (Appendix B's click sequence); the rest count as "bought".
VIEW_BEHAVIORS = ("click", "detail_view", "favorite", "cart")
DAY = 86400


@dataclass
class UserContext:
    """One user's inputs to the stages. Sequences are item texts, most recent first."""

    user_id: str
    attributes: str
    behavior: str
    today: dt.date
    clicks: list[str] = field(default_factory=list)
    purchases: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    recent: list[str] = field(default_factory=list)  # item texts and queries of the last ``recent_days``
    history_texts: list[str] = field(default_factory=list)  # every distinct item text, category, query
    history_item_ids: list[str] = field(default_factory=list)  # in time order, oldest first
    history_categories: list[str] = field(default_factory=list)  # aligned with history_item_ids


def attributes_text(row: dict) -> str:
    """``"age 34, female, Hangzhou, member: gold"`` from a users-table row; "" when nothing is known."""
    parts = []
    if row.get("age") is not None:
        parts.append(f"age {row['age']}")
    for key in ("gender", "location"):
        if row.get(key):
            parts.append(str(row[key]))
    parts.extend(f"{k}: {v}" for k, v in (row.get("attributes") or []))
    return ", ".join(parts)


def sample_users(dataset, n: int | None, seed: int, fold: str | None = None) -> list[str]:
    """Users with history (and, for a fold, a holdout target in it), sorted; a seeded sample when ``n``."""
    users = set(dataset.history(fold).column("user_id").to_pylist())
    if fold is not None and dataset.holdout.num_rows:
        users &= set(dataset.targets(fold))
    ordered = sorted(users)
    if n is None or n >= len(ordered):
        return ordered
    picked = np.random.default_rng(seed).choice(len(ordered), size=n, replace=False)
    return sorted(ordered[i] for i in picked)


def compressed_behavior(dataset, fold: str | None, user_ids: list[str], compressed: pa.Table | None) -> dict:
    """user_id -> compressed text: from ``compressed`` (the run folder's table) or computed now."""
    wanted = set(user_ids)
    if compressed is None:
        from recgpt.behavior.compression import CompressionConfig, compress_users, reference_date_of
        from recgpt.data.dataset import Dataset

        history = dataset.history(fold)
        reference = reference_date_of(history, dataset.searches, None)  # of everyone, not of the subset
        value_set = pa.array(sorted(wanted), pa.string())

        def only(table: pa.Table) -> pa.Table:
            return table.filter(pc.is_in(table.column("user_id"), value_set=value_set))

        subset = Dataset(dataset.name, dataset.items, only(dataset.users), only(dataset.events),
                         only(dataset.searches), only(dataset.holdout))
        config = CompressionConfig(fold=fold or "all", tokenizer="approx", reference_date=reference)
        compressed = compress_users(subset, config)
    return {
        u: t
        for u, t in zip(compressed.column("user_id").to_pylist(), compressed.column("text").to_pylist())
        if u in wanted
    }


def build_contexts(
    dataset,
    user_ids: list[str],
    fold: str | None,
    compressed: pa.Table | None = None,
    recent_days: int = 30,
    sequence_items: int = 15,
    current_date: str | None = None,
    history_lines: int = 30,
    history_chars: int = 2500,
) -> dict[str, UserContext]:
    """Contexts for ``user_ids``. 'Today' is ``current_date`` or the day after the user's last event."""
    texts = CatalogTexts.of(dataset)
    wanted = pa.array(user_ids, pa.string())
    history = dataset.history(fold)
    history = history.filter(pc.is_in(history.column("user_id"), value_set=wanted)).to_pylist()
    searches = dataset.searches.filter(pc.is_in(dataset.searches.column("user_id"), value_set=wanted))
    searches = searches.sort_by([("user_id", "ascending"), ("timestamp", "ascending")]).to_pylist()
    users = dataset.users.filter(pc.is_in(dataset.users.column("user_id"), value_set=wanted)).to_pylist()
    attrs = {row["user_id"]: attributes_text(row) for row in users}
    behavior = compressed_behavior(dataset, fold, user_ids, compressed)
    events_of: dict[str, list[dict]] = {u: [] for u in user_ids}
    for row in history:
        events_of[row["user_id"]].append(row)
    queries_of: dict[str, list[dict]] = {u: [] for u in user_ids}
    for row in searches:
        queries_of[row["user_id"]].append(row)
    return {
        user: user_context(user, events_of[user], queries_of[user], attrs.get(user, ""), behavior.get(user) or "",
                           texts, recent_days, sequence_items, current_date, history_lines, history_chars)
        for user in user_ids
    }


@dataclass
class CatalogTexts:
    """What a context reads about items: the compressed text and the category of every item id."""

    text: dict[str, str]
    category: dict[str, str]

    @classmethod
    def of(cls, dataset) -> "CatalogTexts":
        from recgpt.behavior.item_text import item_texts

        items = dataset.items
        return cls(item_texts(items), dict(zip(items.column("item_id").to_pylist(),
                                               items.column("category").to_pylist())))


def user_context(
    user: str,
    events: list[dict],
    queries: list[dict],
    attributes: str,
    behavior: str,
    texts: CatalogTexts,
    recent_days: int = 30,
    sequence_items: int = 15,
    current_date: str | None = None,
    history_lines: int = 30,
    history_chars: int = 2500,
) -> UserContext:
    """One user's context from their events and searches (dicts with ``item_id``/``query``, ``behavior``,
    ``timestamp``, oldest first) and compressed behavior text: what the stages see "now", where now is the
    day after the last event given (or ``current_date``). Giving only the events before a point in time
    gives the context the user had then, which is how training samples are built."""
    stamps = [e["timestamp"] for e in events] + [q["timestamp"] for q in queries]
    last = max(stamps) if stamps else 0
    today = to_date(current_date) if current_date else to_date(last + DAY)
    cutoff = int(dt.datetime.combine(today, dt.time(), dt.timezone.utc).timestamp()) - recent_days * DAY
    newest = list(reversed(events))
    clicks = _distinct(texts.text[e["item_id"]] for e in newest if e["behavior"] in VIEW_BEHAVIORS)
    purchases = _distinct(texts.text[e["item_id"]] for e in newest if e["behavior"] not in VIEW_BEHAVIORS)
    query_texts = _distinct(q["query"] for q in reversed(queries))
    recent = _distinct(
        [texts.text[e["item_id"]] for e in newest if e["timestamp"] >= cutoff]
        + [q["query"] for q in reversed(queries) if q["timestamp"] >= cutoff]
    )
    items = [e["item_id"] for e in events]
    return UserContext(
        user_id=user,
        attributes=attributes,
        behavior=newest_lines(behavior.splitlines(), history_lines, history_chars) or "(no behavior)",
        today=today,
        clicks=clicks[:sequence_items],
        purchases=purchases[:sequence_items],
        searches=query_texts[:sequence_items],
        recent=recent,
        history_texts=_distinct([texts.text[i] for i in items] + [texts.category[i] for i in items] + query_texts),
        history_item_ids=items,
        history_categories=[texts.category[i] for i in items],
    )


def newest_lines(lines: list[str], max_lines: int, max_chars: int) -> str:
    """The newest lines (compressed behavior is oldest first) within both limits, in their order; the
    newest line alone is cut at ``max_chars`` if it is longer."""
    kept: list[str] = []
    size = 0
    for line in reversed(lines[-max_lines:]):
        if kept and size + len(line) + 1 > max_chars:
            break
        kept.append(line[:max_chars])
        size += len(line) + 1
    return "\n".join(reversed(kept))


def _distinct(values) -> list[str]:
    seen: dict[str, None] = {}
    for v in values:
        if v and v not in seen:
            seen[v] = None
    return list(seen)
