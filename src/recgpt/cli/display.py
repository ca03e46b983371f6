"""The ``recgpt`` command's terminal: log records and live progress bars, on stderr, through one console.

Library code logs to ``logging.getLogger("recgpt.<area>")`` and reports progress through
:mod:`recgpt.progress`; :class:`Display` is what the command installs to show both.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
)

from recgpt import progress as progress_api


def format_info(info: dict[str, Any]) -> str:
    """``"tok/s 301.5  cached 3"`` from ``{"tok/s": 301.53, "cached": 3}``."""
    parts = []
    for key, value in info.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        parts.append(f"{key} {value}")
    return "  ".join(parts)


def _stderr_console() -> Console:
    """stderr at the terminal's width; 160 columns when it is a file or a pipe (logs, CI), not rich's 80."""
    console = Console(stderr=True)
    return console if console.is_terminal else Console(stderr=True, width=160)


class Display:
    """Progress bars (one per task name) and log records (INFO and above, or DEBUG when ``verbose``).

    On a terminal the bars are live; written to a file or a pipe (``nohup``, CI) rich draws nothing until the
    end, so each task instead prints a plain line every ``plain_every`` seconds and when it finishes."""

    def __init__(self, verbose: bool = False, console: Console | None = None, plain_every: float = 30.0):
        self.console = console or _stderr_console()
        self.plain_every = plain_every
        self._printed: dict[str, float] = {}  # task -> when its last plain line was printed
        self._began: dict[str, float] = {}
        self.bars = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=self.console, transient=False,
        )
        self.tasks: dict[str, TaskID] = {}
        self.handler = RichHandler(console=self.console, show_time=False, show_path=False, markup=False,
                                   rich_tracebacks=False)
        self.logger = logging.getLogger("recgpt")
        self.logger.addHandler(self.handler)
        self.logger.setLevel(logging.DEBUG if verbose else logging.INFO)
        self._started = False
        self._previous = progress_api.install(self)

    def __call__(self, task: str, done: int, total: int | None = None, **info: Any) -> None:
        if not self.console.is_terminal:
            self._plain(task, done, total, info)
            return
        if not self._started:
            self.bars.start()
            self._started = True
        if task not in self.tasks:
            self.tasks[task] = self.bars.add_task(task, total=total, info="")
        self.bars.update(self.tasks[task], completed=done, total=total, info=format_info(info))
        if total is not None and done >= total:
            self.tasks.pop(task)  # finished: the next report under this name starts a new bar

    def _plain(self, task: str, done: int, total: int | None, info: dict[str, Any]) -> None:
        now = time.monotonic()
        began = self._began.setdefault(task, now)
        finished = total is not None and done >= total
        if finished or now - self._printed.get(task, began - self.plain_every) >= self.plain_every:
            self._printed[task] = now
            share = f" ({100 * done / total:.0f}%)" if total else ""
            eta = f"  eta {(now - began) * (total - done) / done:.0f} s" if total and 0 < done < total else ""
            self.console.print(f"{task}: {done}/{total if total is not None else '?'}{share}  {format_info(info)}  "
                               f"{now - began:.0f} s{eta}", markup=False, highlight=False)
        if finished:
            self._began.pop(task, None)
            self._printed.pop(task, None)

    def close(self) -> None:
        """Stop the bars and detach from logging and progress (idempotent)."""
        if self._started:
            self.bars.stop()
            self._started = False
        self.logger.removeHandler(self.handler)
        if self._previous is not None:
            progress_api.install(self._previous)
            self._previous = None
