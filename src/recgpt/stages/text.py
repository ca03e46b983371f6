"""Small text helpers shared by the stages: normalisation, content words, seasons, greedy deduplication."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np

_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")

STOPWORDS = frozenset(
    """a an and are as at be by for from has have he her his i in is it its of on or our she that the their
    them they this to user users was were will with you your who which what when where why how all any both
    each more most other some such no not only own same so than too very can just also like likes liked may
    might bought buys buying purchased purchase purchases viewed views searched search searches reviewed
    interest interests item items product products shows show showed based several many often""".split()
)


def normalise(text: str) -> str:
    """Lowercase words joined by single spaces, punctuation dropped: ``"Gel-Pens, BLUE!"`` -> ``"gel-pens blue"``."""
    return " ".join(words(text))


def words(text: str) -> list[str]:
    return _WORD.findall(str(text).lower())


def content_words(text: str, min_len: int = 3) -> set[str]:
    """Words that carry meaning: not stopwords, at least ``min_len`` characters, crude plural folding."""
    return {_stem(w) for w in words(text) if w not in STOPWORDS and len(w) >= min_len and not w.isdigit()}


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("es") and word[-3] in "sxz":
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def season(day: dt.date, southern: bool = False) -> str:
    """Meteorological season of ``day`` (northern hemisphere unless ``southern``)."""
    names = ["winter", "spring", "summer", "autumn"]
    index = (day.month % 12) // 3
    return names[(index + 2) % 4] if southern else names[index]


def to_date(value: int | str | dt.date) -> dt.date:
    """Unix seconds, an ISO string or a date, as a UTC date."""
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return dt.date.fromisoformat(value)
    return dt.datetime.fromtimestamp(int(value), tz=dt.timezone.utc).date()


def greedy_dedupe(
    texts: list[str], vectors: np.ndarray | None, threshold: float
) -> tuple[list[int], list[int]]:
    """Indices kept and dropped, in order: a text is dropped when its normalised form was seen, or when its
    L2-normalised vector has cosine >= ``threshold`` with an already kept one. ``vectors``: (n, d) or None."""
    kept: list[int] = []
    dropped: list[int] = []
    seen: set[str] = set()
    for i, text in enumerate(texts):
        key = normalise(text)
        duplicate = key in seen
        if not duplicate and vectors is not None and kept:
            duplicate = bool((vectors[kept] @ vectors[i]).max() >= threshold)
        if duplicate:
            dropped.append(i)
        else:
            kept.append(i)
            seen.add(key)
    return kept, dropped
