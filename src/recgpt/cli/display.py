"""The ``recgpt`` command's terminal: log records and live progress bars, on stderr, through one console.

Library code logs to ``logging.getLogger("recgpt.<area>")`` and reports progress through
:mod:`recgpt.progress`; :class:`Display` is what the command installs to show both.
"""

from __future__ import annotations

import logging
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
    """Progress bars (one per task name) and log records (INFO and above, or DEBUG when ``verbose``)."""

    def __init__(self, verbose: bool = False, console: Console | None = None):
        self.console = console or _stderr_console()
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
        if not self._started:
            self.bars.start()
            self._started = True
        if task not in self.tasks:
            self.tasks[task] = self.bars.add_task(task, total=total, info="")
        self.bars.update(self.tasks[task], completed=done, total=total, info=format_info(info))
        if total is not None and done >= total:
            self.tasks.pop(task)  # finished: the next report under this name starts a new bar

    def close(self) -> None:
        """Stop the bars and detach from logging and progress (idempotent)."""
        if self._started:
            self.bars.stop()
            self._started = False
        self.logger.removeHandler(self.handler)
        if self._previous is not None:
            progress_api.install(self._previous)
            self._previous = None
