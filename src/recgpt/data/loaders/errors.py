"""Errors and skip accounting shared by the loaders.

Every bad input row is either a :class:`LoadError` naming the file, line and field, or, when the user asked
for ``on_error: skip``, one count in a :class:`SkipReport` that the loader prints at the end.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


from recgpt.errors import RecgptError

class LoadError(RecgptError, ValueError):
    """Bad input: ``str(error)`` reads ``FILE:LINE: field NAME: what is wrong``."""

    def __init__(self, file: str | Path, line: int | None, field_name: str | None, message: str):
        self.file, self.line, self.field, self.message = str(file), line, field_name, message
        where = self.file if line is None else f"{self.file}:{line}"
        what = f"field {field_name!r}: {message}" if field_name else message
        super().__init__(f"{where}: {what}")


@dataclass
class SkipReport:
    """Counts of skipped rows by (file, reason), plus the first few examples of each."""

    counts: Counter = field(default_factory=Counter)
    examples: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def add(self, error: LoadError, reason: str) -> None:
        key = (error.file, reason)
        self.counts[key] += 1
        self.examples.setdefault(key, [])
        if len(self.examples[key]) < 3:
            self.examples[key].append(str(error))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def lines(self) -> list[str]:
        """Human-readable summary, one line per (file, reason)."""
        out = []
        for (file, reason), n in sorted(self.counts.items()):
            out.append(f"skipped {n} row(s) of {file}: {reason} (first: {self.examples[(file, reason)][0]})")
        return out
