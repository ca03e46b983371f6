"""The judge inside recgpt run (issue 15, item 6): outputs failing the judge are dropped downstream, outputs the
post-checks failed are not sent to it, and the pass rates per task and criterion are written for the report."""

from __future__ import annotations

import json
import re

import pyarrow.parquet as pq
from judge_helpers import make_run

from recgpt.judge.config import JudgeConfig
from recgpt.judge.run_filter import filter_stage
from recgpt.llm.config import LLMConfig
from recgpt.llm.fake import FakeBackend


def judge(prompt: str) -> str:
    """'no' on every criterion for outputs about fountain pens, 'yes' otherwise."""
    criteria = re.findall(r"^## (\w+):", prompt, flags=re.M)
    output = prompt.split("# The output to judge", 1)[1].split("# Criteria", 1)[0].lower()
    labels = {"reasonableness": ("strong", "none")}
    return json.dumps({c: {"reason": "scripted", "verdict": labels.get(c, ("yes", "no"))["fountain" in output]}
                       for c in criteria})


def test_failing_outputs_are_dropped_and_pass_rates_written(tmp_path):
    run = make_run(tmp_path / "run")
    pq.write_table(pq.read_table(run.interests), run.interests_all)
    backend = FakeBackend(judge)
    config = JudgeConfig(llm=LLMConfig(progress=False), run_filter=True)
    tags = filter_stage(run, "tags", config, backend)
    rows = pq.read_table(run.tags).to_pylist()
    assert [(r["passed_checks"], (r["failed_check"] or "")[:6]) for r in rows] == [
        (True, ""), (False, "shape"), (False, "judge:")]
    assert len(backend.prompts) == 2 and tags["judge_dropped"] == 1  # the shape-failed tag was not asked
    interests = filter_stage(run, "interests", config, backend)
    assert pq.read_table(run.interests).column("interest").to_pylist() == ["Home office organisation"]
    assert pq.read_table(run.interests_all).num_rows == 2 and interests["judge_dropped"] == 1
    rates = json.loads(run.judge_pass_rates.with_suffix(".json").read_text())
    assert {r["task"] for r in rates} == {"tags", "interests"}
    relevance = next(r for r in rates if r["task"] == "tags" and r["criterion"] == "relevance")
    assert (relevance["n"], relevance["passed"]) == (2, 1)
    filter_stage(run, "tags", config, backend)  # filtering again asks nothing and keeps the verdicts
    assert len(backend.prompts) == 4
    assert [r["failed_check"] for r in pq.read_table(run.tags).to_pylist()][2].startswith("judge:")


def test_the_report_shows_the_judge_pass_rates_only_when_the_run_filtered():
    from recgpt.pipeline.report_alignment import judge_blocks

    rows = [{"task": "tags", "criterion": "relevance", "judge": "fake", "n": 2, "passed": 1, "pass_rate": 0.5}]
    assert judge_blocks(rows, {"stages": {"tags": {"summary": {"judge_dropped": 1, "judged": 2}}}})
    assert judge_blocks(rows, {"stages": {"tags": {"summary": {}}}}) == []
