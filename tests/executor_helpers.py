"""A scripted engine for the executor tests that works the same in this process and in a Ray actor.

:class:`ScriptedEngine` builds, wherever it is called (this process or each Ray worker), a FakeBackend that
answers the ``smoke`` template with ``{"color": <the item spelled backwards>}`` (or text that is not JSON
for items named ``broken...``) and appends every prompt it is asked to ``calls_log``, so tests count calls
made in any process. With ``kill_after``, the first process to make that many calls kills itself with
SIGKILL, once (a marker file remembers it): a worker dying mid-block.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from recgpt.llm.fake import FakeBackend
from recgpt.llm.records import LLMRequest
from recgpt.llm.smoke import Color


def item_of(prompt: str) -> str:
    return prompt.split("Item: ", 1)[1].split("\n", 1)[0].strip()


def expected_color(item: str) -> str:
    return item[::-1]


def smoke_requests(items: list[str]) -> list[LLMRequest]:
    return [LLMRequest(f"key-{i}-{item}", "smoke", {"item": item}, schema=Color) for i, item in enumerate(items)]


@dataclass
class ScriptedEngine:
    calls_log: str
    kill_after: int | None = None
    batch_size: int = 1

    def __call__(self, config) -> FakeBackend:
        calls = [0]

        def answer(prompt: str) -> str:
            with open(self.calls_log, "a", encoding="utf-8") as log:
                log.write(json.dumps(item_of(prompt)) + "\n")
            calls[0] += 1
            marker = Path(self.calls_log + ".killed")
            if self.kill_after is not None and calls[0] == self.kill_after and not marker.exists():
                marker.write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
            item = item_of(prompt)
            return "not json at all" if item.startswith("broken") else json.dumps({"color": expected_color(item)})

        return FakeBackend(answer, batch_size=self.batch_size)

    def calls(self) -> list[str]:
        """Items asked so far, in every process, in the order the log received them."""
        path = Path(self.calls_log)
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
