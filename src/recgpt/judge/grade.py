"""Grade a whole run folder: the function behind ``recgpt judge --run RUN`` (and for the pipeline).

    stats, rows = grade_run("runs/office", JudgeConfig(llm=LLMConfig(backend="openai", ...)))

Loads the run's stage outputs, runs the rule checks and the LLM judge (through the run's LLM cache, so a
rerun resumes), and writes ``RUN/judge/pass_rates.json`` and ``pass_rates.md`` with a row per judge found
in the buffer, over the same outputs, so two models compare side by side.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from recgpt.errors import MissingInputError
from recgpt.executors.base import create_executor
from recgpt.judge.buffer import JudgeBuffer
from recgpt.judge.config import JudgeConfig
from recgpt.judge.items import load_items
from recgpt.judge.llm_judge import JudgeRunStats, LLMJudge
from recgpt.judge.report import PassRate, pass_rates, write_pass_rates
from recgpt.llm.base import Backend
from recgpt.llm.runtime import LLMRuntime
from recgpt.runfolder import RunFolder


def open_buffer(run: str | Path, config: JudgeConfig) -> JudgeBuffer:
    """The configured buffer file, or ``RUN/judge/buffer.sqlite``."""
    return JudgeBuffer(Path(config.buffer) if config.buffer else RunFolder(run).judge_buffer)


def current_round(buffer: JudgeBuffer, config: JudgeConfig) -> int:
    """The configured round, else the latest human round, else 1."""
    rounds = buffer.rounds("human")
    return config.round or (rounds[-1] if rounds else 1)


@contextmanager
def open_judge(run: str | Path, config: JudgeConfig, backend: Backend | None = None
               ) -> Iterator[tuple[LLMJudge, JudgeBuffer, int]]:
    """(the LLM judge, the run's judge buffer, the current round), open inside the ``with`` block: calls go through
    the run's LLM cache and usage log and the configured executor; ``backend`` injects a backend object."""
    folder = RunFolder(run)
    buffer = open_buffer(run, config)
    if backend is None:
        config = deployed_config(folder, config)
    try:
        with LLMRuntime(config.llm, cache_path=folder.llm_cache, usage_path=folder.llm_usage, backend=backend,
                        executor=create_executor(config.executor, folder.llm_blocks)) as runtime:
            yield LLMJudge(config, runtime), buffer, current_round(buffer, config)
    finally:
        buffer.close()


def deployed_config(folder: RunFolder, config: JudgeConfig) -> JudgeConfig:
    """The judge configuration to grade with: with ``use_deployed`` and a judge ``recgpt judge train`` deployed in
    the run, the torch engine with its adapter, asked as it was trained (one criterion per call, the rubric's
    examples shown or not); else ``config`` itself."""
    import json

    if config.use_deployed and folder.judge_deployed.exists():
        deployed = json.loads(folder.judge_deployed.read_text())
        if deployed.get("adapter"):
            llm = config.llm.model_copy(update={"backend": "torch.v1", "temperature": 0.0}).with_options(
                "torch", adapter=deployed["adapter"])
            return config.model_copy(update={"llm": llm, "per_criterion": True,
                                             "prompt_examples": deployed.get("prompt_examples", False)})
    return config


def grade_run(run: str | Path, config: JudgeConfig, backend: Backend | None = None
              ) -> tuple[JudgeRunStats, list[PassRate], str]:
    """Grade ``run``'s outputs; returns the run statistics, the pass-rate rows and the judge's name.

    ``backend`` injects a backend (a FakeBackend in tests); otherwise ``config.llm`` builds one.
    Raises FileNotFoundError when the run has no stage outputs.
    """
    folder = RunFolder(run)
    items = load_items(folder, config.tasks, config.sample_per_task, config.seed, config.max_context_chars)
    if not items:
        raise MissingInputError(f"{run}: no stage outputs found (looked for {folder.interests}, {folder.tags}, "
                                f"{folder.explanations})")
    with open_judge(run, config, backend) as (judge, buffer, round):
        stats = judge.grade(items, buffer, round)
        keys = {t: {i.item_key for i in items if i.task == t} for t in config.tasks}
        rows = [row for j in buffer.judges("llm") for t in config.tasks if keys[t]
                for row in pass_rates(buffer, j, t, keys[t], config.rubric_version)]
        write_pass_rates(folder.judge_pass_rates, rows)
    return stats, rows, judge.name
