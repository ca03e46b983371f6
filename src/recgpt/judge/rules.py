"""Cheap rule checks that run before the LLM judge and count as one more criterion, ``rule_checks``.

The rules are the stages' own post-checks (``recgpt.stages.postchecks`` and
``recgpt.stages.explanation_checks``, not reimplemented here): each stage records its verdict with every
output (``passed_checks``/``failed_check`` in interests.parquet and tags.parquet, ``passed``/``failed_check``
in the explanations table), which :mod:`recgpt.judge.items` copies into ``JudgeItem.rule_passed``. Beyond that, an empty output fails. Items for which no rule applies get no
rule verdict (they are judged by the LLM alone).
"""

from __future__ import annotations

from recgpt.judge.buffer import Verdict
from recgpt.judge.items import JudgeItem
from recgpt.judge.rubric import RULE_CRITERION

RULE_JUDGE = "stage-postchecks"


def rule_result(item: JudgeItem) -> tuple[bool, str] | None:
    """(passed, note) of the rule checks that apply to ``item``, or None when none applies."""
    main_field = {"interests": "interest", "tags": "tag", "explanations": "explanation", "behaviors": "item"}[item.task]
    if not str(item.output.get(main_field, "")).strip():
        return False, f"empty {main_field}"
    if item.rule_passed is not None:
        return item.rule_passed, item.rule_notes or ("passed" if item.rule_passed else "failed")
    return None


def rule_verdicts(items: list[JudgeItem], rubric_version: str, round: int) -> list[Verdict]:
    """One ``rule_checks`` verdict per item that has an applicable rule."""
    out = []
    for item in items:
        result = rule_result(item)
        if result is None:
            continue
        passed, note = result
        out.append(Verdict(task=item.task, item_key=item.item_key, criterion=RULE_CRITERION,
                           label="pass" if passed else "fail", passed=passed, source="rule", judge=RULE_JUDGE,
                           rubric_version=rubric_version, round=round, input=item.context, output=item.output,
                           reason=note))
    return out
