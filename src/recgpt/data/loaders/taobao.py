"""The Taobao UserBehavior sample (Alibaba, Tianchi), from ``data/taobao-userbehavior-sample``.

``UserBehavior.csv`` has no header: user_id, item_id, category_id, behavior, timestamp (unix seconds).
Behavior mapping: pv -> click, cart -> cart, fav -> favorite, buy -> purchase. Items are ids only in the
source, so ``title`` is ``"item <id>"`` and ``category`` is the category id as text; ``brand`` and
``price`` are null. Users: ids only. No searches, no holdout split (the sample is too small for one).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa

from recgpt.data.dataset import Dataset
from recgpt.data.loaders.errors import LoadError, SkipReport

BEHAVIOR_MAP = {"pv": "click", "cart": "cart", "fav": "favorite", "buy": "purchase"}
COLUMNS = ["user_id", "item_id", "category_id", "behavior", "timestamp"]


def load_taobao(path: str | Path = "data/taobao-userbehavior-sample") -> Dataset:
    """Load ``path/UserBehavior.csv`` (or ``path`` itself when it is the CSV file)."""
    file = _csv(Path(path))
    if not file.exists():
        raise LoadError(file, None, None, "file not found")
    try:
        df = pl.read_csv(
            file, has_header=False, new_columns=COLUMNS,
            schema_overrides={c: pl.String for c in COLUMNS},
        )
    except pl.exceptions.ComputeError as exc:
        raise LoadError(file, None, None, f"cannot parse: {exc}") from exc
    for column in COLUMNS:
        nulls = df[column].is_null()
        if nulls.any():
            line = int(nulls.arg_true()[0]) + 1
            raise LoadError(file, line, column, "empty value")
    seconds = df["timestamp"].str.strip_chars().cast(pl.Int64, strict=False)
    if seconds.is_null().any():
        row = int(seconds.is_null().arg_true()[0])
        raise LoadError(file, row + 1, "timestamp", f"not unix seconds: {df['timestamp'][row]!r}")
    df = df.with_columns(seconds.alias("timestamp"))
    unknown = ~df["behavior"].is_in(list(BEHAVIOR_MAP))
    if unknown.any():
        row = int(unknown.arg_true()[0])
        raise LoadError(file, row + 1, "behavior", f"unknown behavior {df['behavior'][row]!r}")
    events = df.select(
        "user_id", "item_id", pl.col("behavior").replace_strict(BEHAVIOR_MAP), "timestamp"
    ).to_arrow()
    catalog = df.group_by("item_id").agg(pl.col("category_id").first()).sort("item_id")
    conflicting = df.group_by("item_id").agg(pl.col("category_id").n_unique()).filter(pl.col("category_id") > 1)
    if conflicting.height:
        raise LoadError(file, None, "category_id", f"item {conflicting['item_id'][0]} has several categories")
    items = pa.table(
        {
            "item_id": catalog["item_id"].to_arrow(),
            "title": ("item " + catalog["item_id"]).to_arrow(),
            "category": catalog["category_id"].to_arrow(),
        }
    )
    users = pa.table({"user_id": pa.array(sorted(df["user_id"].unique().to_list()), pa.string())})
    return Dataset("taobao", items=items, users=users, events=events).validate()


def _csv(path: Path) -> Path:
    return path / "UserBehavior.csv" if path.is_dir() else path


class TaobaoLoader:
    """The Taobao UserBehavior sample (ids only, four behavior types); a copy is bundled."""

    default_path = "data/taobao-userbehavior-sample"

    def load(self, path: Path, report: SkipReport | None = None) -> Dataset:
        return load_taobao(path)

    def source_files(self, path: Path) -> list[Path]:
        return [_csv(Path(path))]
