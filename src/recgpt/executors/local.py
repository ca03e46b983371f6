"""``local.v1``: everything in this process, as recgpt has always run it."""

from __future__ import annotations

import asyncio
import concurrent.futures
from pathlib import Path
from typing import Any

from recgpt.executors.base import Executor


class LocalExecutor(Executor):
    """Runs the LLM calls through the runtime's batch runner in this process, and the batch retrieval through
    the loaded model, batch after batch (``retrieval_batch_size`` users each)."""

    name = "local.v1"

    def run_calls(self, calls, runner, progress):
        return run_async(runner.execute(calls, progress))

    def recommend_users(self, model_folder: str | Path, user_ids: list[str], k: int,
                        tags: dict[str, list[str]] | None = None, **recommend_options: Any):
        from recgpt.retrieval.batch import recommend_in_batches
        from recgpt.retrieval.saved import load_model

        return recommend_in_batches(load_model(model_folder), list(user_ids), k, self.config.retrieval_batch_size,
                                    tags, **recommend_options)


def run_async(coro):
    """Run ``coro`` to completion, also when the caller is itself inside an event loop (a notebook)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
