"""The judge inside recgpt run (issue 15, item 6): outputs failing the judge are dropped downstream, outputs the
post-checks failed are not sent to it, and the pass rates per task and criterion are written for the report."""

from __future__ import annotations

import json
import re
import sqlite3

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


def explanation_judge(prompt: str) -> str:
    """Fails only ``factuality`` ("bad") for explanations mentioning fountain pens; every other verdict passes."""
    criteria = re.findall(r"^## (\w+):", prompt, flags=re.M)
    output = prompt.split("# The output to judge", 1)[1].split("# Criteria", 1)[0].lower()
    passing = {"clarity": "excellent", "factuality": "excellent"}
    verdicts = {c: passing.get(c, "yes") for c in criteria}
    if "fountain" in output and "factuality" in verdicts:
        verdicts["factuality"] = "bad"
    return json.dumps({c: {"reason": "scripted", "verdict": v} for c, v in verdicts.items()})


def add_explanations(run) -> None:
    """Beside make_run's served home-office explanation of item 11: a fountain-pen one, an item-only one and one
    the post-checks failed (interest_key, interest, item_id, explanation, passed, failed_check)."""
    with sqlite3.connect(run.explanations) as conn:
        conn.executemany("INSERT INTO explanations VALUES (?, ?, ?, ?, ?, ?)", [
            ("fountain pen writing", "Fountain pen writing", "11", "Pairs with your fountain pen notes.", 1, None),
            ("", "", "11", "A heavy duty stapler that binds thick stacks.", 1, None),
            ("desk", "Desk", "11", "Stapler stapler stapler.", 0, "repetition")])


def explanation_rows(run) -> list[tuple]:
    with sqlite3.connect(run.explanations) as conn:
        return conn.execute("SELECT interest, passed, failed_check FROM explanations ORDER BY interest").fetchall()


def test_failing_explanations_are_no_longer_served(tmp_path):
    from recgpt.stages.explanations import ExplanationTable

    run = make_run(tmp_path / "run")
    add_explanations(run)
    config = JudgeConfig(llm=LLMConfig(progress=False), run_filter=True)
    filter_stage(run, "tags", config, FakeBackend(judge))
    backend = FakeBackend(explanation_judge)
    summary = filter_stage(run, "explanations", config, backend)
    assert len(backend.prompts) == 3  # the post-check-failed explanation was not asked
    assert (summary["judged"], summary["judge_dropped"], summary["judge_unjudged"]) == (3, 1, 0)
    assert summary["judge_pass_rate_factuality"] == round(2 / 3, 4) and summary["judge_pass_rate_relevance"] == 1.0
    assert explanation_rows(run) == [("", 1, None), ("Desk", 0, "repetition"),
                                     ("Fountain pen writing", 0, "judge:factuality"),
                                     ("Home office organisation", 1, None)]
    table = ExplanationTable(run.explanations, match_similarity=1.0)  # exact matches only: no embedding model
    try:
        assert table.lookup(["Fountain pen writing"], "11").interest == ""  # the item-only one answers instead
        assert table.lookup(["Home office organisation"], "11").interest == "Home office organisation"
    finally:
        table.close()
    rates = json.loads(run.judge_pass_rates.with_suffix(".json").read_text())
    assert {r["task"] for r in rates} == {"tags", "explanations"}
    factuality = next(r for r in rates if r["task"] == "explanations" and r["criterion"] == "factuality")
    assert (factuality["n"], factuality["passed"]) == (3, 2)
    assert filter_stage(run, "explanations", config, backend)["judge_dropped"] == 0  # already marked; nothing asked
    assert len(backend.prompts) == 3


def test_with_run_filter_off_the_explanations_stay_as_they_are(tmp_path):
    from types import SimpleNamespace

    from recgpt.pipeline.steps_llm import judge_filter

    run = make_run(tmp_path / "run")
    add_explanations(run)
    before = explanation_rows(run)
    ctx = SimpleNamespace(run=run, config=SimpleNamespace(judge=JudgeConfig(llm=LLMConfig(progress=False))))
    assert judge_filter(ctx, "explanations") == {}
    assert explanation_rows(run) == before
    assert not run.judge_pass_rates.with_suffix(".json").exists() and not run.judge_buffer.exists()


def test_the_explanations_stage_reruns_when_the_judge_settings_change_and_the_report_shows_it():
    from recgpt.pipeline.report_alignment import judge_blocks
    from recgpt.pipeline.runner import build_stages

    stage = next(s for s in build_stages() if s.name == "explanations")
    assert {"judge.run_filter", "judge.llm", "judge.rubric_version"} <= set(stage.sections)
    rows = [{"task": "explanations", "criterion": "factuality", "judge": "fake", "n": 3, "passed": 2,
             "pass_rate": 0.6667}]
    blocks = judge_blocks(rows, {"stages": {"explanations": {"summary": {"judge_dropped": 1, "judged": 3}}}})
    assert "explanations: 1 dropped of 3 judged" in blocks[-1].text
