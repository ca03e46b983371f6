"""Item-level compression (report 2.1.1): one short, deterministic text per item.

Keeps the name, brand, category and a few key attributes; drops noise (HTML, trademark signs, part
numbers in brackets, marketing phrases, repeated words) and caps the length at a word boundary. The
result never contains ``,``, ``|`` or a line break, so it can stand in a compressed behavior line, and
:func:`item_texts` makes texts unique across the catalog so a line can be parsed back to item ids.
"""

from __future__ import annotations

import re

import pyarrow as pa
from pydantic import Field

from recgpt.config import StrictConfig

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


class ItemTextConfig(StrictConfig):
    """How each item's text is compressed."""

    max_title_words: int = Field(14, ge=1, description="title words kept (after noise removal)")
    max_chars: int = Field(120, ge=20, description="hard cap on the whole item text")
    include_brand: bool = Field(True, description="prefix the brand when the title does not name it")
    include_category: bool = Field(True, description="append the category in parentheses")
    category_attribute: str | None = Field(
        "leaf_category", description="attribute to use as the category when an item has it (finer than category)"
    )
    key_attributes: list[str] = Field(
        default_factory=lambda: ["color", "size", "material", "style"],
        description="attributes appended as 'name: value' when present",
    )


def clean_text(text: str) -> str:
    """Remove characters a compressed line reserves (``,`` ``|`` line breaks) and collapse spaces."""
    return _SPACES.sub(" ", _SEPARATORS.sub(" ", text or "")).strip()


def _denoise(title: str) -> str:
    title = _HTML.sub(" ", title)
    title = _SIGNS.sub("", title)
    title = _CODE_IN_BRACKETS.sub(" ", title)
    title = _MARKETING.sub(" ", title)
    title = _SHOUTED.sub(" ", title)
    words, out = clean_text(title).split(" "), []
    for word in words:
        if not out or word.lower() != out[-1].lower():
            out.append(word)
    return " ".join(w for w in out if w.strip("-–/;:"))


def compress_item_text(
    title: str, category: str | None, brand: str | None, attributes: dict[str, str] | None,
    config: ItemTextConfig | None = None,
) -> str:
    """One item's compressed text, e.g. ``"Fellowes Gel Wrist Rest Graphite/Platinum (Wrist Rests)"``."""
    cfg = config or ItemTextConfig()
    attributes = attributes or {}
    name = " ".join(_denoise(title).split(" ")[: cfg.max_title_words])
    name += ")" * max(0, name.count("(") - name.count(")"))
    if cfg.include_brand and brand and clean_text(brand).lower() not in name.lower():
        name = f"{clean_text(brand)} {name}".strip()
    extras = [f"{k}: {clean_text(attributes[k])}" for k in cfg.key_attributes if attributes.get(k)]
    cat = attributes.get(cfg.category_attribute) if cfg.category_attribute else None
    cat = clean_text(cat or category or "")
    if cat.isdigit():
        cat = f"category {cat}"
    if cfg.include_category and cat and cat.lower() not in name.lower():
        extras.insert(0, cat)
    text = f"{name} ({'; '.join(extras)})" if extras else name
    if len(text) > cfg.max_chars:
        text = text[: cfg.max_chars].rsplit(" ", 1)[0].rstrip("(;: ")
        text += ")" if text.count("(") > text.count(")") else ""
    return text or "item"


def item_texts(items: pa.Table, config: ItemTextConfig | None = None) -> dict[str, str]:
    """Item id -> compressed text, unique across the catalog (collisions get `` #<item id>``)."""
    ids = items.column("item_id").to_pylist()
    titles = items.column("title").to_pylist()
    categories = items.column("category").to_pylist()
    brands = items.column("brand").to_pylist()
    attrs = items.column("attributes").to_pylist()
    texts = [
        compress_item_text(t, c, b, dict(a) if a else None, config)
        for t, c, b, a in zip(titles, categories, brands, attrs)
    ]
    seen: dict[str, int] = {}
    for text in texts:
        seen[text] = seen.get(text, 0) + 1
    out: dict[str, str] = {}
    for item_id, text in zip(ids, texts):
        out[item_id] = text if seen[text] == 1 else f"{text} #{clean_text(item_id)}"
    return out
