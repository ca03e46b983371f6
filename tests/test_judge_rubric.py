"""Rubrics, the judge prompt rendered from them, and verdict parsing through the runtime's FakeBackend."""

import json

import pytest
from judge_helpers import make_run

from recgpt.judge.buffer import JudgeBuffer
from recgpt.judge.config import JudgeConfig
from recgpt.judge.items import load_items
from recgpt.judge.llm_judge import LLMJudge, parse_verdicts
from recgpt.judge.report import pass_rates
from recgpt.judge.rubric import RubricError, TASKS, load_criterion, load_rubric
from recgpt.llm.runtime import FakeBackend, LLMConfig, LLMRuntime


def test_rubrics_follow_the_report():
    assert load_rubric("interests").criterion_names == ["willingness", "reasonableness"]
    assert load_rubric("tags").criterion_names == ["relevance", "consistency", "specificity", "validity"]
    assert load_rubric("explanations").criterion_names == ["relevance", "factuality", "clarity", "safety"]
    reason = load_rubric("interests").criterion("reasonableness")
    assert reason.label_names == ["strong", "weak", "none", "hallucination"] and reason.pass_labels == {"strong"}
    fact = load_rubric("explanations").criterion("factuality")
    assert fact.scale == "three-level" and fact.pass_labels == {"excellent", "good"} and not fact.passes("bad")
    for task in TASKS:
        for c in load_rubric(task).criteria:
            assert c.examples and {e.label for e in c.examples} & c.pass_labels, (task, c.name)
    assert reason.normalize("No correlation.") == "none" and reason.normalize("STRONG") == "strong"
    assert load_rubric("tags").criterion("validity").normalize("maybe") is None


def test_bad_rubric_files_name_the_file(tmp_path):
    (tmp_path / "tags").mkdir()
    (tmp_path / "tags" / "validity.v9.yaml").write_text("scale: binary\nquestion: q\nlabels: [{name: a}]\n"
                                                        "pass_labels: [b]\n")
    with pytest.raises(RubricError, match=r"validity\.v9\.yaml: pass_labels \['b'\]"):
        load_criterion("tags", "validity", "v9", root=tmp_path)
    with pytest.raises(RubricError, match="not found"):
        load_rubric("tags", "v9", root=tmp_path)


def _answer(prompt: str) -> str:
    """A scripted judge: fails specificity of a tag with 'converter', passes the rest (capitalised labels)."""
    if "Task: Item tag prediction" in prompt:
        output = prompt.split("# The output to judge")[1].split("# Criteria")[0]
        spec = "no" if "converter" in output else "Yes"
        return json.dumps({"relevance": {"reason": "matches", "verdict": "Yes"},
                           "consistency": {"reason": "grounded", "verdict": "yes"},
                           "specificity": {"reason": "r", "verdict": spec},
                           "validity": {"reason": "real", "verdict": "yes"}})
    if "Task: User interest mining" in prompt:
        return 'Sure! ```json\n{"willingness": {"reason": "hobby", "verdict": "yes"}, ' \
               '"reasonableness": {"reason": "ink", "verdict": "Strong"}}\n```'
    return "I cannot judge this."


def test_judge_prompt_renders_rubric_and_output(tmp_path):
    run = make_run(tmp_path / "run")
    runtime = LLMRuntime(LLMConfig(backend="fake", progress=False), backend=FakeBackend(_answer))
    judge = LLMJudge(JudgeConfig(), runtime)
    item = next(i for i in load_items(run) if i.task == "tags")
    prompt = runtime.render("judge", judge.request(item).variables)
    assert "Heavy-duty desktop stapler" in prompt and "Swingline stapler" in prompt
    assert '"Smart coaster"' in prompt and "## specificity" in prompt and 'validity "yes"/"no"' in prompt


def test_grade_parses_verdicts_skips_rule_failures_and_resumes(tmp_path):
    run = make_run(tmp_path / "run")
    fake = FakeBackend(_answer, model="scripted")
    runtime = LLMRuntime(LLMConfig(backend="fake", progress=False), cache_path=run.llm_cache, backend=fake)
    judge = LLMJudge(JudgeConfig(), runtime)
    buffer = JudgeBuffer(run.judge / "buffer.sqlite")
    items = load_items(run)
    assert [i.task for i in items] == ["interests", "interests", "tags", "tags", "tags", "explanations"]
    stats = judge.grade(items, buffer)
    # one tag failed the stage post-checks and is not asked; the explanation answer has no verdict
    assert (stats.rule_failed, stats.asked, stats.failed_calls) == (1, 5, 1)
    assert fake.calls >= 5
    assert judge.name == "fake.v1:scripted"
    llm = buffer.verdicts(source="llm")
    assert {(v.task, v.criterion, v.label) for v in llm if v.item_key.startswith("user 8 interest 0 #")} == {
        ("interests", "willingness", "yes"), ("interests", "reasonableness", "strong")}
    assert len(buffer.verdicts(source="rule", task="tags")) == 3
    rates = {r.criterion: r for r in pass_rates(buffer, judge.name, "tags")}
    assert (rates["relevance"].n, rates["relevance"].passed) == (2, 2)
    assert (rates["rule_checks"].n, rates["rule_checks"].passed) == (3, 2)
    assert (rates["specificity"].n, rates["specificity"].passed) == (2, 1)
    assert (rates["all"].n, rates["all"].passed) == (3, 1)
    calls = fake.calls
    again = judge.grade(items, buffer)
    # resumes: only the output without verdicts is asked again (failed answers are not cached)
    assert again.already_judged == 4 and again.asked == 1
    assert all("Task: Recommendation explanation" in p for p in fake.prompts[calls:])


def test_parse_verdicts_is_lenient_but_drops_unknown_labels():
    rubric = load_rubric("tags")
    got = parse_verdicts(rubric, '{"Relevance": "YES", "validity": {"verdict": "maybe"}, "specificity": true}')
    assert got == {"relevance": ("yes", ""), "specificity": ("yes", "")}
    assert parse_verdicts(rubric, "no json here") == {}
