"""Progress of long work, reported through one callback so that library code never prints.

A long-running function takes ``progress: ProgressFn | None`` and calls ``progress(task, done, total,
**info)`` as it goes (``info``: figures worth showing beside the bar, such as ``tok_s=301.5`` or
``dev=0.2122``). ``None`` means the process-wide reporter: silent in a library or a test, a live progress
display once the ``recgpt`` command has installed one with :func:`use`. Messages go through
``logging.getLogger("recgpt.<area>")``, never ``print``.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Protocol


class ProgressFn(Protocol):
    def __call__(self, task: str, done: int, total: int | None = None, **info: Any) -> None:
        """``done`` of ``total`` units of ``task`` are finished (``total`` None: unknown)."""


def silent(task: str, done: int, total: int | None = None, **info: Any) -> None:
    """The reporter that shows nothing."""


_current: ProgressFn = silent


def report(task: str, done: int, total: int | None = None, **info: Any) -> None:
    """Report to the process-wide reporter."""
    _current(task, done, total, **info)


def reporter(progress: ProgressFn | None) -> ProgressFn:
    """``progress`` itself, or the process-wide reporter when it is None."""
    return progress if progress is not None else report


def install(fn: ProgressFn) -> ProgressFn:
    """Make ``fn`` the process-wide reporter; returns the one it replaces."""
    global _current
    previous, _current = _current, fn
    return previous


@contextmanager
def use(fn: ProgressFn) -> Iterator[ProgressFn]:
    """Make ``fn`` the process-wide reporter inside the ``with`` block."""
    previous = install(fn)
    try:
        yield fn
    finally:
        install(previous)
