"""The judge inside ``recgpt run`` (``judge.run_filter``): right after the interest, tag and explanation stages,
the configured judge grades their outputs, and an output that fails any criterion is dropped downstream:

- interests and tags: the row in ``interests_all.parquet`` / ``tags.parquet`` gets ``passed_checks = false``
  and ``failed_check = "judge:<criterion>"`` (the first failed one), and ``interests.parquet`` keeps the
  passing rows only;
- explanations: the row of the lookup table (``stages/explanations.sqlite``) gets ``passed = 0`` and
  ``failed_check = "judge:<criterion>"``, so the lookup behind ``recgpt serve`` and ``recgpt recommend`` no
  longer returns it (the item-only explanation or none answers instead).

Outputs the stage's post-checks already failed are not sent to the judge, and a failed judge call keeps its
output. Verdicts go to the run's judge buffer, calls through the run's LLM cache; the pass rates per task and
criterion go to ``RUN/judge/pass_rates.json`` (and ``.md``) and to the stage's summary, which the report shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from recgpt.judge.config import JudgeConfig
from recgpt.judge.items import JudgeItem, load_explanation_items, load_interest_items, load_tag_items
from recgpt.judge.llm_judge import JudgeRunStats
from recgpt.judge.report import PassRate, pass_rates, write_pass_rates
from recgpt.runfolder import RunFolder


@dataclass
class Graded:
    """The judge's word on one task's outputs. ``failed``: item key -> the first criterion the output failed
    (None when it passed every one), for each output with a verdict on every criterion; an output missing from
    it went unjudged (a failed call). ``rates``: the pass-rate rows of the task."""

    judge: str
    stats: JudgeRunStats
    failed: dict[str, str | None]
    rates: list[PassRate]

    def summary(self, dropped: int, unjudged: int) -> dict[str, Any]:
        """The stage-summary fields: judge name, counts and the pass rate per criterion."""
        return {"judge": self.judge, "judged": self.stats.asked + self.stats.already_judged,
                "judge_dropped": dropped, "judge_failed_calls": self.stats.failed_calls, "judge_unjudged": unjudged,
                **{f"judge_pass_rate_{r.criterion}": round(r.rate, 4) for r in self.rates}}


def filter_stage(run: RunFolder, task: str, config: JudgeConfig, backend=None) -> dict[str, Any]:
    """Grade ``task``'s outputs (interests, tags or explanations) and mark the failing ones; returns the counts
    and pass rates (:meth:`Graded.summary`), or ``{"judged": 0}`` when the stage wrote nothing."""
    if task == "explanations":
        return filter_explanations(run, config, backend)
    return filter_rows(run, task, config, backend)


def grade_task(run: RunFolder, task: str, items: list[JudgeItem], config: JudgeConfig, backend=None) -> Graded:
    """Grade the ``items`` of ``task`` the post-checks did not fail, and replace the task's rows in the run's
    pass-rate files (other tasks' rows are kept)."""
    from recgpt.judge.grade import open_judge

    with open_judge(run.root, config, backend) as (judge, buffer, judge_round):
        todo = [item for item in items if item.rule_passed is not False]
        stats = judge.grade(todo, buffer, judge_round)
        criteria = judge.rubrics[task].criterion_names
        verdicts = {(v.item_key, v.criterion): v.passed
                    for v in buffer.verdicts(task=task, source="llm", judge=judge.name)}
        failed: dict[str, str | None] = {}
        for item in todo:
            got = [(c, verdicts.get((item.item_key, c))) for c in criteria]
            if all(v is not None for _, v in got):
                failed[item.item_key] = next((c for c, v in got if not v), None)
        rates = pass_rates(buffer, judge.name, task, {i.item_key for i in todo}, config.rubric_version)
        write_task_rates(run, task, rates)
        return Graded(judge.name, stats, failed, rates)


def write_task_rates(run: RunFolder, task: str, rates: list[PassRate]) -> None:
    """``RUN/judge/pass_rates.json`` / ``.md`` with ``task``'s rows replaced by ``rates``."""
    json_path = run.judge_pass_rates.with_suffix(".json")
    others = [r for r in json.loads(json_path.read_text()) if r["task"] != task] if json_path.exists() else []
    keep = [PassRate(r["judge"], r["task"], r["criterion"], r["n"], r["passed"], r.get("unjudged", 0))
            for r in others]
    write_pass_rates(run.judge_pass_rates, keep + rates)


def filter_rows(run: RunFolder, task: str, config: JudgeConfig, backend=None) -> dict[str, Any]:
    """Interests or tags: mark the failing rows of ``interests_all.parquet`` / ``tags.parquet`` and, for
    interests, rewrite ``interests.parquet`` with the passing rows."""
    path = run.interests_all if task == "interests" else run.tags
    if not path.exists():
        return {"judged": 0}
    table = pq.read_table(path)
    items = (load_interest_items if task == "interests" else load_tag_items)(run, config.max_context_chars)
    if len(items) != table.num_rows:
        raise RuntimeError(f"{path}: {table.num_rows} rows but {len(items)} judge items")
    graded = grade_task(run, task, items, config, backend)
    rows = table.to_pylist()
    dropped = unjudged = 0
    for row, item in zip(rows, items):
        if not row["passed_checks"]:
            continue
        if item.item_key not in graded.failed:
            unjudged += 1  # a failed judge call keeps the output (its post-checks passed)
        elif graded.failed[item.item_key] is not None:
            row["passed_checks"], row["failed_check"] = False, f"judge:{graded.failed[item.item_key]}"
            dropped += 1
    schema = pa.schema([pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in table.schema])
    out = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(out, path)
    if task == "interests":
        from recgpt.stages.interests import PUBLIC_COLUMNS

        pq.write_table(out.filter(out.column("passed_checks")).select(PUBLIC_COLUMNS), run.interests)
    return graded.summary(dropped, unjudged)


def filter_explanations(run: RunFolder, config: JudgeConfig, backend=None) -> dict[str, Any]:
    """Explanations: mark the failing rows of the lookup table (``passed = 0``, ``failed_check =
    "judge:<criterion>"``) so the lookup no longer serves them."""
    from recgpt.stages.explanations import ExplanationTable

    if not run.explanations.exists():
        return {"judged": 0}
    items = load_explanation_items(run, config.max_context_chars)
    graded = grade_task(run, "explanations", items, config, backend)
    served = [item for item in items if item.rule_passed]
    unjudged = sum(item.item_key not in graded.failed for item in served)
    drops = [(item.extra["interest"], item.extra["item_id"], f"judge:{graded.failed[item.item_key]}")
             for item in served if graded.failed.get(item.item_key) is not None]
    table = ExplanationTable(run.explanations)
    try:
        dropped = table.mark_failed(drops)
    finally:
        table.close()
    return graded.summary(dropped, unjudged)
