"""Agreement metrics and the milestone check against hand-computed values."""

import pytest
from judge_helpers import verdict

from recgpt.judge.agreement import ALL, agreement, binary_metrics, milestone_check
from recgpt.judge.buffer import JudgeBuffer


def test_binary_metrics_hand_computed():
    m = binary_metrics([True, True, True, False, False], [True, True, False, True, False])
    # TP 2, TN 1, FP 1, FN 1
    assert (m.n, m.accuracy, m.precision, m.recall, m.f1) == (5, 0.6, pytest.approx(2 / 3), pytest.approx(2 / 3),
                                                               pytest.approx(2 / 3))
    m = binary_metrics([True, False, False, False], [True, True, True, False])
    # TP 1, FP 2, TN 1, FN 0: P = 1/3, R = 1, F1 = 2 * (1/3) / (4/3) = 0.5
    assert (m.accuracy, m.precision, m.recall, m.f1) == (0.5, pytest.approx(1 / 3), 1.0, pytest.approx(0.5))
    assert binary_metrics([False], [False]).f1 == 0.0
    with pytest.raises(ValueError):
        binary_metrics([True], [])


def _explanations(buffer, round, human, llm, t0):
    """human/llm: per item, a (relevance, factuality, clarity, safety) tuple of labels."""
    vs = []
    for i, (h, j) in enumerate(zip(human, llm)):
        for crit, hl, jl in zip(("relevance", "factuality", "clarity", "safety"), h, j):
            vs.append(verdict(hl, round, t0 + i, task="explanations", criterion=crit, item=f"e{i}"))
            if jl is not None:
                vs.append(verdict(jl, 1, t0 + i, task="explanations", criterion=crit, item=f"e{i}",
                                  source="llm", judge="m"))
    buffer.add(vs)


def test_agreement_per_criterion_and_per_output(tmp_path):
    buffer = JudgeBuffer(tmp_path / "b.sqlite")
    ok = ("yes", "good", "excellent", "yes")
    bad_fact = ("yes", "bad", "excellent", "yes")
    _explanations(buffer, 1, human=[ok, ok, bad_fact, bad_fact], llm=[ok, bad_fact, ok, bad_fact], t0=10)
    # item e4: the rule checks failed, the LLM was not asked; the human says it fails too
    _explanations(buffer, 1, human=[], llm=[], t0=0)
    buffer.add([verdict("bad", 1, 50, task="explanations", criterion=c, item="e4") for c in ("factuality",)])
    buffer.add([verdict("yes", 1, 50, task="explanations", criterion=c, item="e4")
                for c in ("relevance", "safety")] + [verdict("good", 1, 50, task="explanations",
                                                             criterion="clarity", item="e4")])
    buffer.add([verdict("fail", 1, 50, task="explanations", criterion="rule_checks", item="e4", source="rule",
                        judge="stage-postchecks", passed=False)])
    rows = {(r.task, r.criterion): r.metrics for r in agreement(buffer, "m")}
    fact = rows[("explanations", "factuality")]
    # factuality: human P P F F, judge P F P F over e0..e3 -> TP 1 TN 1 FP 1 FN 1
    assert (fact.n, fact.accuracy, fact.precision, fact.recall) == (4, 0.5, 0.5, 0.5)
    assert rows[("explanations", "relevance")].accuracy == 1.0
    whole = rows[("explanations", ALL)]
    # outputs: e0..e3 as factuality, plus e4 (rule fail = judge fail, human fail): TN -> 5 outputs, acc 3/5
    assert (whole.n, whole.accuracy, whole.precision, whole.recall) == (5, 0.6, 0.5, 0.5)
    assert ("tags", ALL) not in rows


def test_milestone_check_names_the_degraded_criterion(tmp_path):
    buffer = JudgeBuffer(tmp_path / "b.sqlite")
    ok, bad = ("yes", "good", "excellent", "yes"), ("yes", "bad", "excellent", "yes")
    _explanations(buffer, 1, human=[ok, bad, ok, bad], llm=[ok, bad, ok, bad], t0=0)   # round 1: perfect
    # round 2: new items, the judge misses every factuality failure
    vs = []
    for i, h in enumerate([ok, bad, bad, bad]):
        for crit, hl in zip(("relevance", "factuality", "clarity", "safety"), h):
            vs.append(verdict(hl, 2, 100 + i, task="explanations", criterion=crit, item=f"n{i}"))
            vs.append(verdict(ok[("relevance", "factuality", "clarity", "safety").index(crit)], 2, 100 + i,
                              task="explanations", criterion=crit, item=f"n{i}", source="llm", judge="m"))
    buffer.add(vs)
    latest, flags = milestone_check(buffer, "m", threshold=0.1)
    named = {(f.task, f.criterion) for f in flags}
    assert named == {("explanations", "factuality"), ("explanations", ALL)}
    flag = next(f for f in flags if f.criterion == "factuality")
    assert (flag.previous, flag.latest) == (1.0, 0.25)
    assert "round 2" in flag.reason
    _, none = milestone_check(buffer, "m", threshold=0.8)
    assert none == []
    _, floor = milestone_check(buffer, "m", threshold=0.8, min_value=0.9)
    assert {(f.task, f.criterion) for f in floor} == {("explanations", "factuality"), ("explanations", ALL)}
