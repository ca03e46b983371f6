"""The canonical tables every stage reads, as Arrow schemas, plus the fixed behavior vocabulary.

Tables (one Parquet file each in a data folder, see :mod:`recgpt.data.store`):

items      item_id: str, title: str, category: str, brand: str|null, price: float64|null,
           attributes: map<str, str> (anything else the source has)
users      user_id: str, age: int32|null, gender: str|null, location: str|null, attributes: map<str, str>
events     user_id: str, item_id: str, behavior: str (one of BEHAVIORS), timestamp: int64 (unix seconds, UTC)
searches   user_id: str, query: str, timestamp: int64
holdout    user_id: str, item_id: str, behavior: str, timestamp: int64, fold: str ("dev" | "test")
           the leave-one-out targets of an evaluation split; these events are *not* in ``events``.

Ids are strings everywhere so that any source's ids (ints, ASINs, UUIDs) fit without remapping.
"""

from __future__ import annotations

import pyarrow as pa

from recgpt.data.behaviors import BEHAVIORS, DEFAULT_RELIABLE_BEHAVIORS, Behavior  # noqa: F401  (re-exported)


FOLDS: tuple[str, ...] = ("dev", "test")

_ATTRS = pa.map_(pa.string(), pa.string())

ITEMS_SCHEMA = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("title", pa.string(), nullable=False),
        pa.field("category", pa.string(), nullable=False),
        pa.field("brand", pa.string()),
        pa.field("price", pa.float64()),
        pa.field("attributes", _ATTRS),
    ]
)

USERS_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("age", pa.int32()),
        pa.field("gender", pa.string()),
        pa.field("location", pa.string()),
        pa.field("attributes", _ATTRS),
    ]
)

EVENTS_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("behavior", pa.string(), nullable=False),
        pa.field("timestamp", pa.int64(), nullable=False),
    ]
)

SEARCHES_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("query", pa.string(), nullable=False),
        pa.field("timestamp", pa.int64(), nullable=False),
    ]
)

HOLDOUT_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("behavior", pa.string(), nullable=False),
        pa.field("timestamp", pa.int64(), nullable=False),
        pa.field("fold", pa.string(), nullable=False),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {
    "items": ITEMS_SCHEMA,
    "users": USERS_SCHEMA,
    "events": EVENTS_SCHEMA,
    "searches": SEARCHES_SCHEMA,
    "holdout": HOLDOUT_SCHEMA,
}
