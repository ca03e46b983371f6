"""The evaluation split: a source's own holdout, or a leave-one-out split for data sets that come without one
(the Taobao sample, a user's own logs). ``recgpt data load --split`` and ``recgpt run``'s data stage both call
:func:`apply_split`, so the two commands make the same split.

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


SPLITS = ("auto", "source", "leave-one-out")
SPLIT_ALIASES = {"loo": "leave-one-out"}


def apply_split(dataset, split: str = "auto", min_events: int = 3):
    """``dataset`` with the evaluation split ``split`` asks for (validated).

    auto: the source's own holdout, or leave-one-out when it has none; source: the source's holdout as it is
    (possibly empty); leave-one-out (alias loo): always made from the events (a source holdout is put back
    into the events first, so its targets are not lost)."""
    from recgpt.config import ConfigError
    from recgpt.data.dataset import Dataset

    split = SPLIT_ALIASES.get(split, split)
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; known: {', '.join(SPLITS)} (loo = leave-one-out)")
    if split == "source" or (split == "auto" and dataset.holdout.num_rows):
        return dataset
    if dataset.holdout.num_rows:
        dataset = Dataset(dataset.name, dataset.items, dataset.users, dataset.history(None), dataset.searches)
    return leave_one_out(dataset, min_events).validate()


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
