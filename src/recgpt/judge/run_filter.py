"""The judge inside ``recgpt run`` (``judge.run_filter``): right after the interest and tag stages, the configured
judge grades their outputs, and an output that fails any criterion is dropped downstream: its row in
``interests_all.parquet`` / ``tags.parquet`` gets ``passed_checks = false`` and ``failed_check =
"judge:<criterion>"`` (the first failed one), and ``interests.parquet`` keeps the passing rows only. Outputs the
stage's post-checks already failed are not sent to the judge. Verdicts go to the run's judge buffer, calls
through the run's LLM cache; the pass rates per task and criterion go to ``RUN/judge/pass_rates.json`` (and
``.md``) and to the stage's summary, which the report shows.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from recgpt.judge.config import JudgeConfig
from recgpt.judge.items import load_interest_items, load_tag_items
from recgpt.judge.report import PassRate, pass_rates, write_pass_rates
from recgpt.runfolder import RunFolder


def filter_stage(run: RunFolder, task: str, config: JudgeConfig, backend=None) -> dict[str, Any]:
    """Grade ``task``'s outputs (interests or tags) and mark the failing rows; returns the counts and pass rates."""
    from recgpt.judge.grade import open_judge

    path = run.interests_all if task == "interests" else run.tags
    if not path.exists():
        return {"judged": 0}
    table = pq.read_table(path)
    items = (load_interest_items if task == "interests" else load_tag_items)(run, config.max_context_chars)
    if len(items) != table.num_rows:
        raise RuntimeError(f"{path}: {table.num_rows} rows but {len(items)} judge items")
    with open_judge(run.root, config, backend) as (judge, buffer, judge_round):
        name = judge.name
        todo = [item for item in items if item.rule_passed is not False]
        stats = judge.grade(todo, buffer, judge_round)
        criteria = judge.rubrics[task].criterion_names
        verdicts = {(v.item_key, v.criterion): v.passed
                    for v in buffer.verdicts(task=task, source="llm", judge=judge.name)}
        rows = table.to_pylist()
        dropped = unjudged = 0
        for row, item in zip(rows, items):
            if not row["passed_checks"]:
                continue
            got = [(c, verdicts.get((item.item_key, c))) for c in criteria]
            if any(v is None for _, v in got):
                unjudged += 1  # a failed judge call keeps the output (its post-checks passed)
                continue
            failed = next((c for c, v in got if not v), None)
            if failed is not None:
                row["passed_checks"], row["failed_check"] = False, f"judge:{failed}"
                dropped += 1
        rates = pass_rates(buffer, judge.name, task, {i.item_key for i in todo}, config.rubric_version)
        json_path = run.judge_pass_rates.with_suffix(".json")
        others = [r for r in json.loads(json_path.read_text()) if r["task"] != task] if json_path.exists() else []
        keep = [PassRate(r["judge"], r["task"], r["criterion"], r["n"], r["passed"], r.get("unjudged", 0))
                for r in others]
        write_pass_rates(run.judge_pass_rates, keep + rates)
    schema = pa.schema([pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in table.schema])
    out = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(out, path)
    if task == "interests":
        from recgpt.stages.interests import PUBLIC_COLUMNS

        pq.write_table(out.filter(out.column("passed_checks")).select(PUBLIC_COLUMNS), run.interests)
    return {"judge": name, "judged": stats.asked + stats.already_judged, "judge_dropped": dropped,
            "judge_failed_calls": stats.failed_calls, "judge_unjudged": unjudged,
            **{f"judge_pass_rate_{r.criterion}": round(r.rate, 4) for r in rates}}
