"""A user's own CSV, Parquet or JSON Lines files, described by a column-mapping YAML file.

Example (``examples/custom/mapping.yaml`` is a complete one)::

    name: my-shop
    on_error: raise            # or "skip": drop bad rows, count them, report them at the end
    items:
      file: items.csv          # relative to the YAML file; format from the extension or `format:`
      columns: {item_id: sku, title: name, category: cat, brand: maker, price: price}
      attributes: [color]      # extra columns kept in items.attributes
    events:
      file: events.jsonl
      columns: {user_id: uid, item_id: sku, behavior: action, timestamp: ts}
      behaviors: {view: click, detail: detail_view, like: favorite, add: cart, order: purchase}
      timestamp_format: iso    # unix | unix_ms | iso | a strptime pattern such as "%Y-%m-%d %H:%M"

Every bad row (malformed line, missing field, unknown behavior, unparseable timestamp, event whose item is
not in the catalog, holdout row whose user-item pair is also in the events, ...) raises :class:`LoadError` naming file, line and field, or is skipped and counted.
Lines are 1-based physical lines for CSV (the header is line 1) and JSON Lines; rows for Parquet.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa

from recgpt.data.config import CustomMapping, TableMapping
from recgpt.data.dataset import Dataset
from recgpt.data.loaders.errors import LoadError, SkipReport
from recgpt.data.loaders.readers import read_rows
from recgpt.data.schema import BEHAVIORS

REQUIRED = {
    "items": ("item_id", "title"),
    "users": ("user_id",),
    "events": ("user_id", "item_id", "behavior", "timestamp"),
    "searches": ("user_id", "query", "timestamp"),
    "holdout": ("user_id", "item_id", "behavior", "timestamp", "fold"),
}
OPTIONAL = {
    "items": ("category", "brand", "price"),
    "users": ("age", "gender", "location"),
    "events": (),
    "searches": (),
    "holdout": (),
}


class _Checker:
    """Applies one check to a frame: raise on the first bad row, or drop bad rows and count them."""

    def __init__(self, on_error: str, skips: SkipReport):
        self.on_error, self.skips = on_error, skips

    def apply(self, df: pl.DataFrame, bad: pl.Series, file: Path, field: str, what, reason: str) -> pl.DataFrame:
        bad = bad.fill_null(True)
        if not bad.any():
            return df
        rows = bad.arg_true()
        if self.on_error == "raise":
            row = int(rows[0])
            raise LoadError(file, int(df["__line"][row]), field, what(df, row))
        for row in rows.to_list():
            self.skips.add(LoadError(file, int(df["__line"][row]), field, what(df, row)), reason)
        return df.filter(~bad)


def _value(column: str):
    return lambda df, row: f"{df[column][row]!r}"


def _parse_timestamps(values: pl.Series, fmt: str) -> pl.Series:
    """Source values -> unix seconds (Int64), null where a value does not parse."""
    if fmt in ("unix", "unix_ms"):
        numbers = values.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
        return (numbers / 1000 if fmt == "unix_ms" else numbers).floor().cast(pl.Int64, strict=False)
    text = values.cast(pl.String).str.strip_chars()
    if fmt == "iso":
        parsed = text.str.replace(r"Z$", "+00:00").str.to_datetime(
            time_zone="UTC", strict=False, time_unit="us"
        )
    else:
        parsed = text.str.to_datetime(fmt, strict=False, time_unit="us")
        if parsed.dtype.time_zone is None:  # type: ignore[union-attr]
            parsed = parsed.dt.replace_time_zone("UTC")
    return (parsed.dt.epoch("us") // 1_000_000).cast(pl.Int64)


def _resolve(base: Path, file: str) -> Path:
    """A mapping's file: absolute as written, or relative to the mapping YAML's folder."""
    return Path(file) if Path(file).is_absolute() else (base / file).resolve()


def _load_table(kind: str, mapping: TableMapping, base: Path, cfg: CustomMapping, check: _Checker) -> pl.DataFrame:
    file = _resolve(base, mapping.file)
    needed = [mapping.source(c) for c in REQUIRED[kind]]
    optional = [mapping.source(c) for c in OPTIONAL[kind] if c in mapping.columns]
    wanted = needed + optional + list(mapping.attributes)
    df = read_rows(file, mapping.format, mapping.delimiter, wanted, needed, check.on_error, check.skips)
    df = df.rename({mapping.source(c): c for c in REQUIRED[kind] + OPTIONAL[kind] if mapping.source(c) in df.columns})
    for column in REQUIRED[kind]:
        df = check.apply(df, df[column].is_null(), file, mapping.source(column), lambda d, r: "empty value", "empty value")
    if "timestamp" in df.columns:
        fmt = mapping.timestamp_format or cfg.timestamp_format
        df = df.with_columns(__ts=_parse_timestamps(df["timestamp"], fmt))
        df = check.apply(
            df, df["__ts"].is_null(), file, mapping.source("timestamp"),
            lambda d, r: f"cannot parse timestamp {d['timestamp'][r]!r} as {fmt!r}", "unparseable timestamp",
        )
        df = df.with_columns(pl.col("__ts").alias("timestamp")).drop("__ts")
    if "behavior" in df.columns:
        df = df.with_columns(pl.col("behavior").cast(pl.String).str.strip_chars())
        table = mapping.behaviors or {b: b for b in BEHAVIORS}
        df = check.apply(
            df, ~df["behavior"].is_in(list(table)), file, mapping.source("behavior"),
            lambda d, r: f"unknown behavior {d['behavior'][r]!r} (known: {', '.join(table)})", "unknown behavior",
        )
        df = df.with_columns(pl.col("behavior").replace_strict(table, return_dtype=pl.String))
    for column, dtype in (("price", pl.Float64), ("age", pl.Int32)):
        if column in df.columns:
            parsed = df[column].cast(pl.String).str.strip_chars().cast(dtype, strict=False)
            df = check.apply(
                df, parsed.is_null() & df[column].is_not_null(), file, mapping.source(column),
                lambda d, r, c=column: f"not a number: {d[c][r]!r}", f"bad {column}",
            )
            df = df.with_columns(df[column].cast(pl.String).str.strip_chars().cast(dtype, strict=False))
    if kind == "holdout":
        df = check.apply(df, ~df["fold"].is_in(["dev", "test"]), file, mapping.source("fold"),
                         lambda d, r: f"fold {d['fold'][r]!r} is not 'dev' or 'test'", "bad fold")
    for column in ("user_id", "item_id", "title", "category", "query", "brand", "gender", "location", "fold"):
        if column in df.columns:
            df = df.with_columns(pl.col(column).cast(pl.String))
    if mapping.attributes:
        attrs = [pl.struct(key=pl.lit(a), value=pl.col(a).cast(pl.String)) for a in mapping.attributes]
        df = df.with_columns(pl.concat_list(attrs).list.eval(pl.element().filter(
            pl.element().struct.field("value").is_not_null())).alias("attributes"))
    df = df.with_columns(pl.lit(str(file)).alias("__file"))
    return df


def _unique_ids(df: pl.DataFrame, key: str, file: Path, source: str, check: _Checker) -> pl.DataFrame:
    dup = df[key].is_duplicated() & ~df[key].is_first_distinct()
    return check.apply(df, dup, file, source, lambda d, r: f"duplicate id {d[key][r]!r}", "duplicate id")


def _must_exist(df, key, known: pl.Series, file, source, what, check: _Checker) -> pl.DataFrame:
    return check.apply(
        df, ~df[key].is_in(known.implode()), file, source,
        lambda d, r: f"{key} {d[key][r]!r} is not in {what}", f"{key} not in {what}",
    )


def _not_in_events(holdout: pl.DataFrame, events: pl.DataFrame, file: Path, source: str,
                   check: _Checker) -> pl.DataFrame:
    """Holdout rows whose (user, item) pair also occurs in the events: the target would sit in its own visible
    history (and history items are never recommended), so it is an error, or dropped and counted."""
    def pair(df: pl.DataFrame) -> pl.Series:
        return df.select(pl.concat_str([pl.col("user_id"), pl.col("item_id")], separator="\x1f")).to_series()

    return check.apply(
        holdout, pair(holdout).is_in(pair(events).implode()), file, source,
        lambda d, r: f"holdout row (user {d['user_id'][r]!r}, item {d['item_id'][r]!r}) also occurs in the events: "
                     "the target would leak into its own history; remove it from one of the two files",
        "holdout row also in the events",
    )


def _to_arrow(df: pl.DataFrame, columns: list[str]) -> pa.Table:
    table = df.select([c for c in columns if c in df.columns]).to_arrow()
    if "attributes" in table.column_names:
        i = table.column_names.index("attributes")
        pairs = [[(kv["key"], kv["value"]) for kv in row or []] for row in table.column(i).to_pylist()]
        table = table.set_column(i, "attributes", pa.array(pairs, type=pa.map_(pa.string(), pa.string())))
    return table


def load_custom(mapping_yaml: str | Path, report: SkipReport | None = None) -> Dataset:
    """Load the files a mapping YAML describes. Skipped rows are counted in ``report`` (and printed)."""
    mapping_yaml = Path(mapping_yaml)
    cfg = CustomMapping.from_yaml(mapping_yaml)
    base = mapping_yaml.parent
    skips = report if report is not None else SkipReport()
    check = _Checker(cfg.on_error, skips)

    def file_of(m: TableMapping) -> Path:
        return _resolve(base, m.file)

    items = _load_table("items", cfg.items, base, cfg, check)
    items = _unique_ids(items, "item_id", file_of(cfg.items), cfg.items.source("item_id"), check)
    if "category" not in items.columns:
        items = items.with_columns(pl.lit("unknown").alias("category"))
    items = items.with_columns(pl.col("category").fill_null("unknown"))
    events = _load_table("events", cfg.events, base, cfg, check)
    events = _must_exist(events, "item_id", items["item_id"], file_of(cfg.events),
                         cfg.events.source("item_id"), "the item catalog", check)
    searches = _load_table("searches", cfg.searches, base, cfg, check) if cfg.searches else None
    holdout = _load_table("holdout", cfg.holdout, base, cfg, check) if cfg.holdout else None
    if holdout is not None:
        holdout = _must_exist(holdout, "item_id", items["item_id"], file_of(cfg.holdout),
                              cfg.holdout.source("item_id"), "the item catalog", check)
    if holdout is not None:
        holdout = _not_in_events(holdout, events, file_of(cfg.holdout), cfg.holdout.source("item_id"), check)
    if cfg.users is not None:
        users = _load_table("users", cfg.users, base, cfg, check)
        users = _unique_ids(users, "user_id", file_of(cfg.users), cfg.users.source("user_id"), check)
        for table, m in ((events, cfg.events), (searches, cfg.searches), (holdout, cfg.holdout)):
            if table is not None:
                pruned = _must_exist(table, "user_id", users["user_id"], file_of(m), m.source("user_id"),
                                     "the users table", check)
                if table is events:
                    events = pruned
                elif table is searches:
                    searches = pruned
                else:
                    holdout = pruned
    else:
        ids = [events["user_id"]] + [t["user_id"] for t in (searches, holdout) if t is not None]
        users = pl.DataFrame({"user_id": pl.concat(ids).unique().sort()})
    dataset = Dataset(
        cfg.name,
        items=_to_arrow(items, ["item_id", "title", "category", "brand", "price", "attributes"]),
        users=_to_arrow(users, ["user_id", "age", "gender", "location", "attributes"]),
        events=_to_arrow(events, ["user_id", "item_id", "behavior", "timestamp"]),
        searches=_to_arrow(searches, ["user_id", "query", "timestamp"]) if searches is not None else None,
        holdout=_to_arrow(holdout, ["user_id", "item_id", "behavior", "timestamp", "fold"]) if holdout is not None else None,
    )
    return dataset.validate()


class CustomLoader:
    """A user's own CSV, Parquet or JSON Lines files, described by a column-mapping YAML (the path)."""

    default_path = None

    def load(self, path: Path, report: SkipReport | None = None) -> Dataset:
        return load_custom(path, report)

    def source_files(self, path: Path) -> list[Path]:
        """The mapping YAML and every data file it names (so an edited CSV reruns the data stage)."""
        path = Path(path)
        cfg = CustomMapping.from_yaml(path)
        tables = (cfg.items, cfg.events, cfg.users, cfg.searches, cfg.holdout)
        return [path] + [_resolve(path.parent, t.file) for t in tables if t is not None]
