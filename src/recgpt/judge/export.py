"""Export a judge fine-tuning set as chat-format JSON Lines (for the alignment work; report 3.1, 4.3).

Each line is one balanced human verdict on one criterion::

    {"messages": [{"role": "user", "content": <the judge prompt for this output and criterion>},
                  {"role": "assistant", "content": "{\"<criterion>\": {\"reason\": ..., \"verdict\": ...}}"}],
     "meta": {"task", "criterion", "item_key", "label", "round", "rubric_version"}}

The prompt is the same judge template the LLM judge uses, restricted to the one criterion, so a model
fine-tuned on this file answers the judge's own prompts.
"""

from __future__ import annotations

import json
from pathlib import Path

from recgpt.judge.buffer import JudgeBuffer, Verdict
from recgpt.judge.llm_judge import TEMPLATE
from recgpt.judge.rebalance import BalancedSet, RebalanceConfig, rebalance_all
from recgpt.judge.rubric import load_rubric, rubric_for_prompt
from recgpt.llm.prompts import PromptLibrary


def judge_variables(verdict: Verdict, examples: bool = True) -> dict:
    """The judge template's variables for ``verdict``'s output, asking its one criterion."""
    rubric = load_rubric(verdict.task, verdict.rubric_version)
    return {"title": rubric.title, "description": rubric.description,
            "criteria": rubric_for_prompt(rubric, [verdict.criterion], examples),
            "context": verdict.input, "output": verdict.output}


def chat_example(verdict: Verdict, prompts: PromptLibrary, template_version: str | None = None,
                 examples: bool = True) -> dict:
    prompt = prompts.render(TEMPLATE, judge_variables(verdict, examples), template_version).text
    answer = {verdict.criterion: {"reason": verdict.reason, "verdict": verdict.label}}
    return {"messages": [{"role": "user", "content": prompt},
                         {"role": "assistant", "content": json.dumps(answer, ensure_ascii=False)}],
            "meta": {"task": verdict.task, "criterion": verdict.criterion, "item_key": verdict.item_key,
                     "label": verdict.label, "round": verdict.round, "rubric_version": verdict.rubric_version}}


def export_training_set(buffer: JudgeBuffer, path: str | Path, config: RebalanceConfig | None = None,
                        source: str = "human", template_dirs: list[str] | None = None,
                        template_version: str | None = None) -> list[BalancedSet]:
    """Rebalance ``source`` verdicts per (task, criterion) and write them to ``path``; returns the sets."""
    verdicts = [v for v in buffer.verdicts(source=source) if v.criterion in
                load_rubric(v.task, v.rubric_version).criterion_names]
    sets = rebalance_all(verdicts, config) if verdicts else []
    prompts = PromptLibrary(template_dirs)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for balanced in sets:
            for verdict in balanced.samples:
                out.write(json.dumps(chat_example(verdict, prompts, template_version), ensure_ascii=False) + "\n")
    return sets
