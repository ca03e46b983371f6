"""The executor contract: what ``local.v1`` and ``ray.v1`` implement.

An executor receives the LLM calls the runtime could not answer from its cache and returns one result per
cache key; the runtime keeps everything else (rendering, cache look-ups, result order, duplicates). It also
runs the batch retrieval job: every user's top-k from a saved retriever folder.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from recgpt.executors.config import ExecutorConfig

if TYPE_CHECKING:
    from recgpt.llm.batch import BatchProgress, BatchRunner, PreparedCall
    from recgpt.llm.records import LLMResult
    from recgpt.retrieval.base import Recommendations


class Executor(ABC):
    """Runs per-request work somewhere. ``blocks_dir`` is where an executor that writes its answers per block
    puts them (``RUN/llm/blocks``); ``None`` lets it choose (beside the runtime's cache)."""

    name: ClassVar[str] = "abstract"

    def __init__(self, config: ExecutorConfig | None = None, blocks_dir: str | Path | None = None):
        self.config = config or ExecutorConfig(name=self.name)
        self.blocks_dir = Path(blocks_dir) if blocks_dir else None

    @abstractmethod
    def run_calls(self, calls: "list[PreparedCall]", runner: "BatchRunner",
                  progress: "BatchProgress") -> "dict[str, LLMResult]":
        """Answer ``calls`` (unique cache keys, none answered by the cache) and return {cache_key: result}.

        ``runner`` holds the runtime's backend, configuration, cache and usage log: every accepted answer must
        be in ``runner.cache`` when this returns, every call logged once in ``runner.usage`` and advanced once
        on ``progress``. Never raises for one bad call (its result says why)."""

    @abstractmethod
    def recommend_users(self, model_folder: str | Path, user_ids: list[str], k: int,
                        tags: dict[str, list[str]] | None = None, **recommend_options: Any) -> "Recommendations":
        """Top-``k`` of every user in ``user_ids`` (in that order) from the retriever saved in ``model_folder``
        (with its vector index when one was saved), as ``load_model(model_folder).recommend(...)`` gives them.
        ``recommend_options`` go to ``recommend`` (e.g. ``beta`` of the TAR)."""

    def close(self) -> None:
        """Release workers and connections."""


def create_executor(config: ExecutorConfig | None = None, blocks_dir: str | Path | None = None) -> Executor:
    """The executor ``config.name`` names (default: local)."""
    from recgpt import registry

    config = config or ExecutorConfig()
    return registry.executors.get(config.name)(config, blocks_dir)
