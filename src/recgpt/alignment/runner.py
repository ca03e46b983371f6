"""Alignment over a run folder: the one orchestration that ``recgpt align`` and ``recgpt run`` both call.

Reads ``RUN/data``, ``RUN/phi`` and, when the interest stage has run, ``RUN/stages/interests.parquet``;
writes ``RUN/alignment/sets/<name>.parquet`` (with its chat JSON Lines export) and
``RUN/alignment/models/<name>/`` (the adapter or model and its manifest).
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pyarrow.parquet as pq

from recgpt.alignment.config import IncrementalConfig, TrainerConfig
from recgpt.alignment.incremental import IncrementalSetBuilder, mined_interests
from recgpt.alignment.records import TrainingSet, TrainingSetError
from recgpt.alignment.trainer import TrainingResult, train
from recgpt.judge.config import JudgeConfig
from recgpt.llm.config import LLMConfig
from recgpt.llm.prompts import PromptLibrary
from recgpt.progress import ProgressFn
from recgpt.runfolder import RunFolder
from recgpt.stages.config import TagsConfig

#: Default names of the tag task's incremental-learning set and of the model tuned on it.
IL_SET = "tags-il"
IL_MODEL = "tags-il"


def build_incremental_set(run: RunFolder, dataset, phi, tags: TagsConfig, config: IncrementalConfig,
                          llm: LLMConfig, name: str = IL_SET, progress: ProgressFn | None = None,
                          judge: JudgeConfig | None = None) -> TrainingSet:
    """Build the tag task's incremental-learning set (report 2.2.2) and write it with its JSON Lines export.
    Prompts are rendered with ``llm``'s templates and system prompt, as the tag stage renders them. With
    ``purify: judge`` the ``judge`` configuration's model grades the behaviors; its verdicts go to the run's
    judge buffer and its calls to the run's LLM cache, through the judge configuration's executor
    (``judge.executor``: this process or a Ray cluster)."""
    interests = pq.read_table(run.interests) if run.interests.exists() else None
    with ExitStack() as stack:
        purifier = None
        if config.purify == "judge":
            from recgpt.alignment.purify import JudgePurifier
            from recgpt.judge.grade import open_judge

            llm_judge, buffer, round = stack.enter_context(open_judge(run.root, judge or JudgeConfig()))
            purifier = JudgePurifier(llm_judge, buffer, config.judge_criteria, round)
        builder = IncrementalSetBuilder(dataset, phi, tags, config, mined_interests(interests, phi),
                                        PromptLibrary(llm.template_dirs), llm.system_prompt, purifier=purifier)
        training_set = builder.build(progress)
    path = training_set.write(run.training_set(name))
    training_set.export_jsonl(path.with_suffix(".jsonl"))
    return training_set


def base_model(llm: LLMConfig) -> str | None:
    """The model the torch engine serves (None: the embedded SmolLM2), which is the base to fine-tune."""
    if llm.options.get("torch", {}).get("adapter"):
        raise TrainingSetError("llm.options.torch.adapter is set: fine-tune from the base model, and continue an "
                               "adapter with --from-adapter instead")
    return llm.options.get("torch", {}).get("model")


def tune(run: RunFolder, tags: TagsConfig, config: TrainerConfig, llm: LLMConfig, set_name: str = IL_SET,
         name: str = IL_MODEL, from_adapter: str | Path | None = None,
         progress: ProgressFn | None = None) -> TrainingResult:
    """Fine-tune the tag model on ``set_name`` into ``RUN/alignment/models/<name>``; the set must have been
    rendered with the tag stage's current template version."""
    training_set = TrainingSet.read(run.training_set(set_name))
    version = PromptLibrary(llm.template_dirs).resolve("tags", tags.template_version)[0]
    if training_set.task != "tags" or training_set.template_version != version:
        raise TrainingSetError(
            f"{run.training_set(set_name)} was made for task {training_set.task!r} with template "
            f"{training_set.template_version}, but the tag stage renders tags {version}: rebuild the set")
    return train(training_set, run.tuned_model(name), config, base_model(llm), from_adapter, progress)
