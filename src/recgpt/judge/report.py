"""Pass rates per task and criterion (the form of the report's Tables 2, 4 and 7), per judge.

For a judge and a task, over the task's graded outputs:

- a criterion's pass rate = outputs whose verdict on it passes / outputs with a verdict on it;
- ``rule_checks`` likewise, over the outputs a rule applied to;
- ``all`` = outputs passing the rule checks (where they apply) and every rubric criterion / outputs that
  failed the rules or have a verdict on every rubric criterion (outputs whose judge call failed are left
  out and counted as ``unjudged``).

Files written to ``RUN/judge/``: ``pass_rates.json`` (rows for every judge in the buffer),
``pass_rates.md`` (one table per task, a row per judge, so two models compare on the same outputs).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from recgpt.judge.buffer import JudgeBuffer
from recgpt.judge.rubric import RULE_CRITERION, load_rubric

ALL = "all"


@dataclass(frozen=True)
class PassRate:
    judge: str
    task: str
    criterion: str
    n: int
    passed: int
    unjudged: int = 0

    @property
    def rate(self) -> float:
        return self.passed / self.n if self.n else 0.0


def pass_rates(buffer: JudgeBuffer, judge: str, task: str, item_keys: set[str] | None = None,
               rubric_version: str = "v1") -> list[PassRate]:
    """Rows for every criterion of ``task``, then ``rule_checks`` (if any), then ``all``."""
    criteria = load_rubric(task, rubric_version).criterion_names
    llm = {(v.item_key, v.criterion): v.passed for v in buffer.verdicts(task=task, source="llm", judge=judge)}
    rules = {v.item_key: v.passed for v in buffer.verdicts(task=task, source="rule", criterion=RULE_CRITERION)}
    keys = item_keys if item_keys is not None else {k for k, _ in llm} | set(rules)
    rows = []
    for c in criteria:
        got = [llm[(k, c)] for k in keys if (k, c) in llm]
        rows.append(PassRate(judge, task, c, len(got), sum(got)))
    ruled = [rules[k] for k in keys if k in rules]
    if ruled:
        rows.append(PassRate(judge, task, RULE_CRITERION, len(ruled), sum(ruled)))
    n = passed = unjudged = 0
    for k in keys:
        if rules.get(k) is False:
            n += 1
        elif all((k, c) in llm for c in criteria):
            n += 1
            passed += all(llm[(k, c)] for c in criteria)
        else:
            unjudged += 1
    rows.append(PassRate(judge, task, ALL, n, passed, unjudged))
    return rows


def write_pass_rates(md_path: Path, rows: list[PassRate]) -> tuple[Path, Path]:
    """Write ``md_path`` (Markdown tables) and its JSON twin beside it; returns (JSON, Markdown) paths."""
    md_path.parent.mkdir(parents=True, exist_ok=True)
    data = [{**asdict(r), "pass_rate": round(r.rate, 4)} for r in rows]
    json_path = md_path.with_suffix(".json")
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    md_path.write_text(pass_rate_markdown(rows))
    return json_path, md_path


def pass_rate_markdown(rows: list[PassRate]) -> str:
    """One table per task: a row per judge, a column per criterion, cells "rate% (passed/n)"."""
    lines = ["# Judge pass rates", ""]
    for task in dict.fromkeys(r.task for r in rows):
        task_rows = [r for r in rows if r.task == task]
        criteria = list(dict.fromkeys(r.criterion for r in task_rows))
        lines += [f"## {task}", "", "| judge | " + " | ".join(criteria) + " |",
                  "|---|" + "---|" * len(criteria)]
        for judge in dict.fromkeys(r.judge for r in task_rows):
            cells = {r.criterion: r for r in task_rows if r.judge == judge}
            lines.append(f"| {judge} | " + " | ".join(
                f"{100 * cells[c].rate:.1f}% ({cells[c].passed}/{cells[c].n})" if c in cells else "-"
                for c in criteria) + " |")
        unjudged = sum(r.unjudged for r in task_rows if r.criterion == ALL)
        if unjudged:
            lines.append(f"\n{unjudged} output(s) without a full verdict (failed judge calls) are not counted.")
        lines.append("")
    return "\n".join(lines)
