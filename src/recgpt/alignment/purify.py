"""Step 1 of the incremental-learning set with an LLM judge (report 2.2.2): a logged behavior becomes a training
target only when the judge finds it relevant (consistent with the user's earlier behavior) and timely (suited to
the season of its date or the next one), by the ``behaviors`` rubric (``judge/rubrics/behaviors/*.v1.yaml``).

    purifier = JudgePurifier(LLMJudge(judge_config, runtime), buffer)
    keep = purifier.keep(items)      # one bool per JudgeItem, in order

Verdicts go to the judge data buffer like every other verdict (so they are resumable, and labelled later in the
labelling page they become the judge's own training data); a behavior whose call failed is kept (rules already
passed it) and counted as ``judge_failed``.
"""

from __future__ import annotations

from collections import Counter

from recgpt.judge.buffer import JudgeBuffer
from recgpt.judge.items import JudgeItem, clip
from recgpt.judge.llm_judge import LLMJudge
from recgpt.stages.text import season

TASK = "behaviors"


def behavior_item(user: str, item_title: str, category: str, behavior: str, when, earlier: list[str],
                  max_context_chars: int = 1200) -> JudgeItem:
    """The judge's view of one logged behavior: the item and its date as output, the user's earlier items
    (most recent first) as context. ``when`` is the behavior's date."""
    return JudgeItem(task=TASK, item_key=f"user {user} {behavior} {item_title[:60]} on {when}",
                     context={"Earlier behavior, most recent first": clip("; ".join(earlier) or "(none)",
                                                                          max_context_chars)},
                     output={"item": f"{item_title} ({category})" if category else item_title, "behavior": behavior,
                             "date": f"{when} ({season(when)})"})


def stage_purifiers(judge: LLMJudge, buffer: JudgeBuffer, round: int, filter,
                    tasks: list[str]) -> dict[str, JudgePurifier]:
    """One purifier per stage task from a ``FilterConfig`` (its criteria, human labels overriding), or none
    when ``filter.judge`` is off: what distillation, self-training and the held-out pass rates filter with."""
    if not filter.judge:
        return {}
    return {t: JudgePurifier(judge, buffer, filter.criteria, round, task=t, human=filter.human_labels) for t in tasks}


class JudgePurifier:
    """Keeps the items of ``task`` (default: logged behaviors) that pass every criterion in ``criteria`` (default:
    the rubric's own). With ``human`` a human verdict in the buffer on the same output and criterion overrides
    the LLM judge's (distillation and self-training filter stage answers this way, report 3)."""

    def __init__(self, judge: LLMJudge, buffer: JudgeBuffer, criteria: list[str] | None = None, round: int = 1,
                 task: str = TASK, human: bool = False):
        self.judge, self.buffer, self.round, self.task, self.human = judge, buffer, round, task, human
        self.criteria = criteria or list(judge.rubrics[task].criterion_names)
        unknown = set(self.criteria) - set(judge.rubrics[task].criterion_names)
        if unknown:
            raise ValueError(f"unknown {task} criteria {sorted(unknown)}; the rubric has "
                             f"{list(judge.rubrics[task].criterion_names)}")
        self.counts: Counter = Counter()

    def verdicts(self, items: list[JudgeItem]) -> dict[tuple[str, str], bool]:
        """(item_key, criterion) -> passed, after grading ``items`` (human verdicts first when ``human``)."""
        self.judge.grade(items, self.buffer, self.round)
        passed = {(v.item_key, v.criterion): v.passed
                  for v in self.buffer.verdicts(task=self.task, source="llm", judge=self.judge.name)}
        if self.human:
            passed.update({(v.item_key, v.criterion): v.passed
                           for v in self.buffer.verdicts(task=self.task, source="human")})
        return passed

    def keep(self, items: list[JudgeItem]) -> list[bool]:
        if not items:
            return []
        passed = self.verdicts(items)
        out = []
        for item in items:
            verdicts = [passed.get((item.item_key, c)) for c in self.criteria]
            if any(v is None for v in verdicts):
                self.counts["judge_failed"] += 1
                out.append(True)
                continue
            for criterion, ok in zip(self.criteria, verdicts):
                self.counts[f"judge_failed_{criterion}"] += int(not ok)
            out.append(all(verdicts))
        self.counts["judge_dropped"] += out.count(False)
        return out
