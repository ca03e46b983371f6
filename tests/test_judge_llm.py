"""The judge on realistic stage outputs with the real embedded model (SmolLM2 through llama-cpp-python)."""

import json
import re

import pytest
import yaml
from judge_helpers import make_amazon_run
from typer.testing import CliRunner

from recgpt.judge.buffer import JudgeBuffer
from recgpt.judge.rubric import load_rubric

pytestmark = pytest.mark.llm


def test_recgpt_judge_grades_with_the_embedded_model_and_resumes(tmp_path):
    pytest.importorskip("llama_cpp")
    from recgpt.cli.main import app

    run = make_amazon_run(tmp_path / "run")
    config = tmp_path / "judge.yaml"
    config.write_text(yaml.safe_dump({"judge": {
        "llm": {"backend": "llama-cpp", "options": {"llama-cpp": {"threads": 2, "n_ctx": 2048}},
                "structured_retries": 0, "progress": False},
        "tasks": ["interests", "tags"], "sample_per_task": 1, "prompt_examples": False, "max_tokens": 160,
        "reason_chars": 32, "max_context_chars": 400}}))
    runner = CliRunner()
    first = runner.invoke(app, ["judge", "--run", str(run.root), "--config", str(config)])
    assert first.exit_code == 0, first.output
    assert "graded 2 outputs" in first.output and "2 asked" in first.output
    buffer = JudgeBuffer(run.judge / "buffer.sqlite")
    llm = buffer.verdicts(source="llm")
    assert llm and all(v.judge.startswith("llama-cpp.v1:SmolLM2-135M-Instruct") for v in llm)
    for v in llm:  # answers are constrained to the rubric's labels, with a short reason
        assert v.label in load_rubric(v.task).criterion(v.criterion).label_names
        assert isinstance(v.reason, str) and len(v.reason) <= 32
    judged_items = {v.item_key for v in llm}
    failed = int(re.search(r"(\d+) without a verdict", first.output)[1])
    assert len(judged_items) + failed == 2 and len(judged_items) >= 1  # a weak model may break one answer
    for key in judged_items:  # a judged output gets a verdict on every criterion of its task's rubric, once
        mine = [v for v in llm if v.item_key == key]
        assert sorted(v.criterion for v in mine) == sorted(load_rubric(mine[0].task).criterion_names)
    assert {v.task for v in llm} <= {"interests", "tags"}
    rates = json.loads((run.judge / "pass_rates.json").read_text())
    assert {(r["task"], r["criterion"]) for r in rates} >= {("interests", "willingness"), ("tags", "validity"),
                                                            ("tags", "all"), ("interests", "all")}
    again = runner.invoke(app, ["judge", "--run", str(run.root), "--config", str(config)])
    assert again.exit_code == 0, again.output
    assert f"{len(judged_items)} already judged" in again.output
    assert "graded 2 outputs with" in again.output and f": {failed} asked" in again.output  # only the unjudged
