"""Shared helpers of the Alignment II tests: a fake judge with known verdicts, a seeded fake student, a fake
sentence embedding, tag answers."""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np

from recgpt.llm.base import Completion
from recgpt.llm.fake import FakeBackend

#: A tag holding this word is judged bad on every criterion by :func:`judge_answer`.
BAD = "soggy"


def fake_embed(texts: list[str]) -> np.ndarray:
    """Deterministic unit vectors from each text's hash: distinct texts are nearly orthogonal."""
    out = []
    for text in texts:
        rng = np.random.default_rng(int(hashlib.sha1(text.encode()).hexdigest()[:8], 16))
        v = rng.normal(size=32)
        out.append(v / np.linalg.norm(v))
    return np.array(out, dtype=np.float32).reshape(len(texts), 32)


def judge_answer(prompt: str) -> str:
    """The judge's answer: every criterion of the prompt "yes", all "no" when the judged output holds BAD."""
    criteria = re.findall(r"^## (\w+):", prompt, flags=re.M)
    output = prompt.split("# The output to judge", 1)[1].split("# Criteria", 1)[0]
    verdict = "no" if BAD in output else "yes"
    return json.dumps({c: {"reason": "scripted", "verdict": verdict} for c in criteria})


def tags_answer(*tags: str, reasoning: str | None = None) -> str:
    data = {"tags": [{"tag": t, "reason": f"fits {t.split()[-1]}"} for t in tags]}
    return json.dumps({"reasoning": reasoning, **data} if reasoning else data)


class SeededFake(FakeBackend):
    """A fake student whose answer depends on the decoding seed: ``script(prompt, seed) -> answer``."""

    def __init__(self, script, model: str = "student"):
        super().__init__(lambda prompt: "", model=model)
        self.seeded = script
        self.seeds: list[int | None] = []

    def complete(self, prompt, params, json_schema=None) -> Completion:
        text = prompt if isinstance(prompt, str) else prompt[-1]["content"]
        self.prompts.append(text)
        self.seeds.append(params.seed)
        answer = self.seeded(text, params.seed)
        return Completion(answer, len(text.split()), len(answer.split()))
