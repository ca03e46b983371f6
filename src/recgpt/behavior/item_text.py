"""Item-level compression (report 2.1.1): one short, deterministic text per item.

Keeps the name, brand, category and a few key attributes; drops noise (HTML, trademark signs, part
numbers in brackets, marketing phrases, repeated words) and caps the length at a word boundary. The
result never contains ``,``, ``|`` or a line break, so it can stand in a compressed behavior line, and
:func:`item_texts` makes texts unique across the catalog so a line can be parsed back to item ids.
"""

from __future__ import annotations

import re

import polars as pl
import pyarrow as pa

from recgpt.behavior.config import ItemTextConfig

_HTML = re.compile(r"<[^>]+>|&[a-z]+;")
_SIGNS = re.compile(r"[®™©℠]")
_CODE_IN_BRACKETS = re.compile(r"[\(\[][A-Z0-9][A-Z0-9#/\-\.\s]{2,}[\)\]]")
_MARKETING = re.compile(
    r"\b(free shipping|best seller|hot sale|brand new|new arrival|limited time|100% (?:new|original)|"
    r"high quality|top rated)\b",
    re.IGNORECASE,
)
_SHOUTED = re.compile(r"\b(?:NEW|HOT|SALE)\b!*")
_SEPARATORS = re.compile(r"[,|\n\r\t]+")
_SPACES = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Remove characters a compressed line reserves (``,`` ``|`` line breaks) and collapse spaces."""
    return _SPACES.sub(" ", _SEPARATORS.sub(" ", text or "")).strip()


def _cap(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    text = text[:max_chars].rsplit(" ", 1)[0].rstrip("(;: ")
    return text + (")" if text.count("(") > text.count(")") else "")


def _clean(expr: pl.Expr) -> pl.Expr:
    return expr.str.replace_all(_SEPARATORS.pattern, " ").str.replace_all(r"\s+", " ").str.strip_chars()


def _attribute(name: str) -> pl.Expr:
    entries = pl.col("attributes").list.eval(
        pl.element().filter(pl.element().struct.field("key") == name).struct.field("value")
    )
    return _clean(entries.list.first().fill_null(""))


def compress_frame(items: pl.DataFrame, config: ItemTextConfig | None = None) -> pl.Series:
    """Vectorised item-level compression of a frame with ``title, category, brand, attributes`` columns.

    Steps: strip HTML, trademark signs, bracketed part numbers and marketing words; collapse repeated
    words; keep ``max_title_words`` words; prefix the brand if the title lacks it; append
    ``(category; key: value; ...)``; cap at ``max_chars`` on a word boundary.
    """
    cfg = config or ItemTextConfig()
    title = pl.col("title").fill_null("")
    for pattern, repl in ((_HTML, " "), (_SIGNS, ""), (_CODE_IN_BRACKETS, " "), (_MARKETING, " "), (_SHOUTED, " ")):
        flags = "(?i)" if pattern.flags & re.IGNORECASE else ""
        title = title.str.replace_all(flags + pattern.pattern, repl)
    word = pl.element()
    words = _clean(title).str.split(" ").list.eval(
        word.filter(word.str.to_lowercase().ne_missing(word.str.to_lowercase().shift(1)))
    ).list.eval(word.filter(word.str.strip_chars("-–/;:") != ""))
    name = words.list.head(cfg.max_title_words).list.join(" ")
    if "attributes" not in items.columns or items["attributes"].dtype == pl.Null:
        items = items.with_columns(pl.lit(None, pl.List(pl.Struct({"key": pl.String, "value": pl.String}))).alias("attributes"))
    df = items.with_columns(name.alias("__name"))
    df = df.with_columns(
        pl.col("__name") + pl.lit(")").repeat_by(
            (pl.col("__name").str.count_matches(r"\(", literal=False)
             - pl.col("__name").str.count_matches(r"\)", literal=False)).clip(0)
        ).list.join("")
    )
    brand = _clean(pl.col("brand").fill_null(""))
    if cfg.include_brand:
        has = pl.col("__name").str.to_lowercase().str.contains(brand.str.to_lowercase(), literal=True)
        df = df.with_columns(
            pl.when((brand != "") & ~has).then(pl.concat_str([brand, pl.lit(" "), pl.col("__name")]).str.strip_chars())
            .otherwise(pl.col("__name")).alias("__name")
        )
    category = _clean(pl.col("category").fill_null(""))
    if cfg.category_attribute:
        from_attr = _attribute(cfg.category_attribute)
        category = pl.when(from_attr != "").then(from_attr).otherwise(category)
    category = pl.when(category.str.contains(r"^\d+$")).then(pl.lit("category ") + category).otherwise(category)
    df = df.with_columns(category.alias("__cat"))
    parts = []
    if cfg.include_category:
        shown = (pl.col("__cat") != "") & ~pl.col("__name").str.to_lowercase().str.contains(
            pl.col("__cat").str.to_lowercase(), literal=True)
        parts.append(pl.when(shown).then(pl.col("__cat")).otherwise(pl.lit("")))
    for key in cfg.key_attributes:
        value = _attribute(key)
        parts.append(pl.when(value != "").then(pl.lit(f"{key}: ") + value).otherwise(pl.lit("")))
    extras = pl.concat_list(parts).list.eval(word.filter(word != "")).list.join("; ") if parts else pl.lit("")
    df = df.with_columns(extras.alias("__extras"))
    text = pl.when(pl.col("__extras") != "").then(
        pl.concat_str([pl.col("__name"), pl.lit(" ("), pl.col("__extras"), pl.lit(")")])
    ).otherwise(pl.col("__name"))
    out = df.select(text.alias("text"))["text"]
    long = out.str.len_chars() > cfg.max_chars
    if long.any():
        out = out.scatter(long.arg_true(), [_cap(t, cfg.max_chars) for t in out.filter(long).to_list()])
    return out.replace("", "item")


def compress_item_text(
    title: str, category: str | None, brand: str | None, attributes: dict[str, str] | None,
    config: ItemTextConfig | None = None,
) -> str:
    """One item's compressed text, e.g. ``"Fellowes Gel Wrist Rest Graphite/Platinum (Wrist Rests)"``."""
    attrs = [{"key": k, "value": v} for k, v in (attributes or {}).items()]
    frame = pl.DataFrame(
        {"title": [title], "category": [category], "brand": [brand], "attributes": [attrs]},
        schema={"title": pl.String, "category": pl.String, "brand": pl.String,
                "attributes": pl.List(pl.Struct({"key": pl.String, "value": pl.String}))},
    )
    return compress_frame(frame, config)[0]


_ENTRIES = pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())]))


def _map_as_list(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """map<str, str> -> list<struct<key, value>> (what polars can evaluate)."""
    return column.cast(_ENTRIES) if pa.types.is_map(column.type) else column


def item_texts(items: pa.Table, config: ItemTextConfig | None = None) -> dict[str, str]:
    """Item id -> compressed text, unique across the catalog (collisions get `` #<item id>``)."""
    items = items.select(["item_id", "title", "category", "brand", "attributes"])
    items = items.set_column(4, "attributes", _map_as_list(items.column("attributes")))
    frame = pl.from_arrow(items)
    frame = frame.with_columns(compress_frame(frame, config).alias("text"))
    duplicated = frame["text"].is_duplicated()
    frame = frame.with_columns(
        pl.when(duplicated).then(pl.col("text") + " #" + _clean(pl.col("item_id"))).otherwise(pl.col("text"))
    )
    return dict(zip(frame["item_id"].to_list(), frame["text"].to_list()))
