"""Fused retrieval (report 2.3.3): h = beta h_user + (1 - beta) h_tag per predicted tag, merged per user.

Every tag of a user gives one query vector; each query's ranked list comes from a vector index (inner product);
the lists are merged round-robin so that no single tag takes over the top of the list; history is excluded.
Tags come from the LLM stages (``stages/tags.parquet``) when they exist, else from the titles of the user's
last few items (``title_tags``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from recgpt.data.dataset import DataValidationError


def fuse(h_user: np.ndarray, h_tags: np.ndarray, beta: float) -> np.ndarray:
    """Queries (n_tags, d) = beta h_user (d,) + (1 - beta) h_tags (n_tags, d); just h_user (1, d) without tags."""
    if len(h_tags) == 0 or beta >= 1.0:
        return h_user[None, :]
    return beta * h_user[None, :] + (1.0 - beta) * h_tags


def round_robin(
    lists: np.ndarray, scores: np.ndarray, k: int, exclude: set[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Merge ranked lists (n_lists, depth) of item positions: take each list's best unused item in turn.

    Returns (k,) positions (-1 pads) and their scores (-inf pads). Items in ``exclude`` are skipped.
    """
    out_idx = np.full(k, -1, dtype=np.int64)
    out_val = np.full(k, -np.inf, dtype=np.float32)
    seen = set(exclude)
    cursors = [0] * len(lists)
    filled = 0
    while filled < k:
        progressed = False
        for li in range(len(lists)):
            row, c = lists[li], cursors[li]
            while c < len(row) and (row[c] < 0 or int(row[c]) in seen):
                c += 1
            cursors[li] = c + 1
            if c < len(row):
                progressed = True
                seen.add(int(row[c]))
                out_idx[filled], out_val[filled] = row[c], scores[li, c]
                filled += 1
                if filled == k:
                    break
        if not progressed:
            break
    return out_idx, out_val


def fused_search(
    search, h_users: np.ndarray, h_tags: list[np.ndarray], beta: float, k: int, exclude: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k per user. ``search(queries (n, d), depth) -> (scores, positions)``, both (n, depth).

    h_users (n_users, d); h_tags[u] (n_tags_u, d), possibly empty; exclude[u] history positions.
    Returns (n_users, k) positions and scores.
    """
    queries, owner = [], []
    for u, (hu, ht) in enumerate(zip(h_users, h_tags)):
        q = fuse(hu, ht, beta)
        queries.append(q)
        owner.extend([u] * len(q))
    if not queries:
        return np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
    queries = np.ascontiguousarray(np.concatenate(queries), dtype=np.float32)
    owner = np.asarray(owner)
    depth = k + max((len(e) for e in exclude), default=0)
    values, positions = search(queries, depth)
    out_idx = np.full((len(h_users), k), -1, dtype=np.int64)
    out_val = np.full((len(h_users), k), -np.inf, dtype=np.float32)
    starts = np.searchsorted(owner, np.arange(len(h_users)))
    ends = np.searchsorted(owner, np.arange(len(h_users)), side="right")
    for u in range(len(h_users)):
        sl = slice(starts[u], ends[u])
        out_idx[u], out_val[u] = round_robin(positions[sl], values[sl], k, set(exclude[u].tolist()))
    return out_idx, out_val


def title_tags(history_items: np.ndarray, titles: list[str], n_last: int) -> list[str]:
    """Item-title tags: the titles of the user's last ``n_last`` distinct items, most recent first."""
    tags: list[str] = []
    for pos in history_items[::-1]:
        title = titles[int(pos)]
        if title and title not in tags:
            tags.append(title)
        if len(tags) == n_last:
            break
    return tags


def load_tag_table(path: str | Path, only_passed: bool = True) -> dict[str, list[str]]:
    """User id -> predicted tag texts from the stages area's ``tags.parquet`` (rows failing checks dropped)."""
    table = pq.read_table(path)
    for column in ("user_id", "tag"):
        if column not in table.column_names:
            raise DataValidationError(f"{path}: column {column!r} is missing")
    return tags_by_user(table, only_passed)


def tags_by_user(table: pa.Table, only_passed: bool = True) -> dict[str, list[str]]:
    """User id -> distinct tag texts in row order, from a table with ``user_id``, ``tag`` and optionally
    ``passed_checks`` (rows failing the checks dropped when ``only_passed``)."""
    users = table.column("user_id").to_pylist()
    tags = table.column("tag").to_pylist()
    passed = (
        table.column("passed_checks").to_pylist()
        if only_passed and "passed_checks" in table.column_names
        else [True] * len(tags)
    )
    out: dict[str, list[str]] = {}
    for u, t, ok in zip(users, tags, passed):
        if ok and t and t not in out.setdefault(str(u), []):
            out[str(u)].append(t)
    return out
