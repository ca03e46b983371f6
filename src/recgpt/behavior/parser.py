"""Parse compressed behavior text back into its facts, the inverse of :func:`.compression.render_facts`.

``parse_compressed(text)`` returns a Counter of ``(label, behavior, period) -> count``: the multiset of
facts the text states (a set when the compression ran with ``count_repeats: false``, since every count
is then 1). :func:`facts_to_items` maps labels back to item ids with the catalog's unique item texts.
"""

from __future__ import annotations

import re
from collections import Counter

from recgpt.errors import RecgptError
from recgpt.behavior.periods import PERIOD_RE

_ENTRY = re.compile(rf"({PERIOD_RE}) \(([^()]*)\)")
_BEHAVIOR = re.compile(r"^([a-z_]+)(?: x(\d+))?$")


class ParseError(RecgptError, ValueError):
    """The text is not in the compressed form; the message names the line."""


def parse_line(line: str, number: int = 1) -> list[tuple[str, str, str, int]]:
    """One line -> ``[(label, behavior, period, count), ...]``."""
    header, sep, items = line.partition(" | ")
    if not sep or not items:
        raise ParseError(f"line {number}: no ' | ' between periods and items: {line!r}")
    entries, pos = [], 0
    for match in _ENTRY.finditer(header):
        if match.start() != pos:
            raise ParseError(f"line {number}: unexpected text at column {pos}: {header[pos:match.start()]!r}")
        entries.append((match.group(1), match.group(2)))
        pos = match.end()
        if header.startswith(", ", pos):
            pos += 2
    if not entries or pos != len(header):
        raise ParseError(f"line {number}: cannot read the periods in {header!r}")
    facts = []
    labels = items.split(", ")
    for period, behaviors in entries:
        for token in behaviors.split(", "):
            match = _BEHAVIOR.match(token)
            if not match:
                raise ParseError(f"line {number}: bad behavior {token!r} in period {period}")
            behavior, count = match.group(1), int(match.group(2) or 1)
            facts.extend((label, behavior, period, count) for label in labels)
    return facts


def parse_compressed(text: str) -> Counter:
    """Compressed text -> Counter ``{(label, behavior, period): count}``. Empty text -> empty Counter."""
    out: Counter = Counter()
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            for label, behavior, period, count in parse_line(line, number):
                out[(label, behavior, period)] += count
    return out


def facts_to_items(facts: Counter, item_text: dict[str, str]) -> Counter:
    """Replace item labels by item ids (``item_text``: id -> unique text); search facts keep the query."""
    by_text = {text: item_id for item_id, text in item_text.items()}
    out: Counter = Counter()
    for (label, behavior, period), count in facts.items():
        key = label if behavior == "search" else by_text[label]
        out[(key, behavior, period)] += count
    return out
