"""A leave-one-out split for data sets that come without one (the Taobao sample, a user's own logs).

Per user, in time order: the test target is the last event whose item the user had not touched before;
it and everything after it leave the history. The dev target is chosen the same way from what remains.
Users with fewer than ``min_events`` events keep their whole history for training and get no target.
Targets that repeat an earlier item would be excluded from every list (history is never recommended),
so they are skipped by construction.
"""

from __future__ import annotations

from collections import defaultdict

import pyarrow as pa

from recgpt.data.schema import EVENTS_SCHEMA, HOLDOUT_SCHEMA


def _pick(events: list[dict]) -> int | None:
    """Index of the last event whose item does not occur earlier in ``events`` (time-sorted), or None."""
    first_seen: dict[str, int] = {}
    for i, e in enumerate(events):
        first_seen.setdefault(e["item_id"], i)
    for i in range(len(events) - 1, 0, -1):
        if first_seen[events[i]["item_id"]] == i:
            return i
    return None


def leave_one_out(dataset, min_events: int = 3):
    """A copy of ``dataset`` with dev and test holdout rows taken from ``events`` as described above."""
    from recgpt.data.dataset import Dataset

    by_user: dict[str, list[dict]] = defaultdict(list)
    for row in dataset.events.sort_by([("user_id", "ascending"), ("timestamp", "ascending")]).to_pylist():
        by_user[row["user_id"]].append(row)
    kept, holdout = [], []
    for user, events in by_user.items():
        history = events
        if len(events) >= min_events:
            for fold in ("test", "dev"):
                i = _pick(history)
                if i is None or i < min_events - 2:
                    break
                holdout.append({**history[i], "fold": fold})
                history = history[:i]
        kept.extend(history)
    return Dataset(
        dataset.name, dataset.items, dataset.users, pa.Table.from_pylist(kept, schema=EVENTS_SCHEMA),
        dataset.searches, pa.Table.from_pylist(holdout, schema=HOLDOUT_SCHEMA),
    )
