"""Reloading a newer run without dropping a request: load beside, then swap.

:class:`StateHolder` keeps the current :class:`~recgpt.serve.state.ServeState`. A reload loads the new state
completely (in a worker thread, while the old one keeps answering) and then replaces the reference in one
assignment; a request holds the state it started with until it finishes. A run that fails to load leaves the
old one in place (the error is logged and counted) and is retried only once its files change again.
Triggers: ``POST /v1/admin/reload`` (this process) and the watcher, which compares the run's stamp (real path,
size and mtime of every file read) every ``watch_interval_s`` seconds, so that every worker of a multi-process
server follows a run folder rewritten in place or a symlink pointed at a newer run.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

from recgpt.errors import RecgptError
from recgpt.serve.config import ServeConfig
from recgpt.serve.state import ServeState, run_stamp

log = logging.getLogger("recgpt.serve")


class StateHolder:
    def __init__(self, root: str | Path, config: ServeConfig, state: ServeState | None = None, metrics=None):
        self.root, self.config, self.metrics = Path(root), config, metrics
        self.current = state if state is not None else ServeState.load(self.root, config)
        self._lock = threading.Lock()
        self._failed_stamp: str | None = None

    def changed(self) -> bool:
        stamp = run_stamp(self.root, self.config)
        return stamp != self.current.stamp and stamp != self._failed_stamp

    def reload(self, force: bool = False) -> tuple[bool, float]:
        """Load the run beside the current state and swap it in; (swapped, seconds). Raises the load's
        :class:`RecgptError` (the current state stays) when the run folder cannot be served."""
        with self._lock:
            if not force and run_stamp(self.root, self.config) == self.current.stamp:
                return False, 0.0
            started = time.perf_counter()
            try:
                fresh = ServeState.load(self.root, self.config)
            except Exception:
                self._failed_stamp = run_stamp(self.root, self.config)
                self._count("failed")
                raise
            self.current = fresh  # the swap: one reference assignment
            self._failed_stamp = None
            self._count("ok")
            return True, time.perf_counter() - started

    def _count(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.reloads.labels(result).inc()

    async def watch(self) -> None:
        """Reload whenever the run folder changes (until cancelled)."""
        interval = self.config.watch_interval_s
        while interval > 0:
            await asyncio.sleep(interval)
            try:
                if self.changed():
                    swapped, seconds = await asyncio.to_thread(self.reload)
                    if swapped:
                        log.info("reloaded %s in %.1f s", self.root, seconds)
            except RecgptError as exc:
                log.error("the changed run folder cannot be served, still serving the previous one: %s", exc)
            except Exception:  # keep watching: the previous state still answers
                log.exception("reloading %s failed, still serving the previous run", self.root)
