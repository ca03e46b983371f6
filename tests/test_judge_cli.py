"""``recgpt judge check | export | dump | import`` on a prepared buffer, and grading with scripted answers."""

import json

import yaml
from judge_helpers import make_run, verdict
from typer.testing import CliRunner

from recgpt.cli.main import app
from recgpt.judge.buffer import JudgeBuffer

CRITERIA = ("relevance", "consistency", "specificity", "validity")


def _round(buffer, round, human_validity, judge_validity, t0):
    vs = []
    for i, (h, j) in enumerate(zip(human_validity, judge_validity)):
        for c in CRITERIA:
            vs.append(verdict(h if c == "validity" else "yes", round, t0 + i, criterion=c, item=f"r{round} t{i}"))
            vs.append(verdict(j if c == "validity" else "yes", round, t0 + i, criterion=c, item=f"r{round} t{i}",
                              source="llm", judge="m"))
    buffer.add(vs)


def test_check_flags_the_degraded_criterion_with_exit_code_1(tmp_path):
    run = make_run(tmp_path / "run")
    buffer = JudgeBuffer(run.judge / "buffer.sqlite")
    _round(buffer, 1, ["yes", "no", "yes", "no", "yes"], ["yes", "no", "yes", "no", "yes"], 0)
    runner = CliRunner()
    ok = runner.invoke(app, ["judge", "check", "--run", str(run.root)])
    assert ok.exit_code == 0, ok.output
    assert "no degradation" in ok.output
    _round(buffer, 2, ["no", "no", "no", "yes", "yes"], ["yes", "yes", "yes", "yes", "yes"], 100)
    bad = runner.invoke(app, ["judge", "check", "--run", str(run.root), "--threshold", "0.1"])
    assert bad.exit_code == 1
    assert "DEGRADED tags/validity: accuracy fell from 1.000 (round 1) to 0.400 (round 2)" in bad.output
    assert json.loads((run.judge / "check.json").read_text())["flags"][0]["criterion"] == "validity"


def test_export_dump_and_import(tmp_path):
    run = make_run(tmp_path / "run")
    buffer = JudgeBuffer(run.judge / "buffer.sqlite")
    _round(buffer, 1, ["yes", "yes", "yes", "no"], ["yes"] * 4, 0)
    runner = CliRunner()
    out = tmp_path / "train.jsonl"
    result = runner.invoke(app, ["judge", "export", "--run", str(run.root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    validity = [x for x in lines if x["meta"]["criterion"] == "validity"]
    assert sorted(x["meta"]["label"] for x in validity) == ["no", "yes"]  # 3 yes : 1 no -> 1 : 1
    assert len(lines) == 3 * 4 + 2  # the other criteria have a single class: their round is kept as is
    first = validity[0]["messages"]
    assert first[0]["role"] == "user" and "## validity" in first[0]["content"] and "## relevance" not in first[0]["content"]
    assert json.loads(first[1]["content"])["validity"]["verdict"] in ("yes", "no")
    dumped = tmp_path / "human.jsonl"
    assert runner.invoke(app, ["judge", "dump", "--run", str(run.root), "--out", str(dumped)]).exit_code == 0
    other = make_run(tmp_path / "other")
    imported = runner.invoke(app, ["judge", "import", "--run", str(other.root), str(dumped)])
    assert imported.exit_code == 0, imported.output
    assert JudgeBuffer(other.judge / "buffer.sqlite").count("human") == 16
    dumped.write_text('{"task": "tags"}\n')
    broken = runner.invoke(app, ["judge", "import", "--run", str(other.root), str(dumped)])
    assert broken.exit_code != 0 and "human.jsonl:1" in broken.output


def test_grade_with_scripted_answers_writes_pass_rates(tmp_path):
    run = make_run(tmp_path / "run")
    answer = json.dumps({c: {"reason": "ok", "verdict": "yes"} for c in CRITERIA})
    config = tmp_path / "j.yaml"
    config.write_text(yaml.safe_dump({"judge": {"tasks": ["tags"], "llm": {"backend": "fake", "progress": False,
                                                                            "options": {"fake": {"answers": [answer] * 2}}}}}))
    result = CliRunner().invoke(app, ["judge", "--run", str(run.root), "--config", str(config)])
    assert result.exit_code == 0, result.output
    rows = {r["criterion"]: r for r in json.loads((run.judge / "pass_rates.json").read_text())}
    assert (rows["validity"]["n"], rows["validity"]["passed"]) == (2, 2)
    assert (rows["all"]["n"], rows["all"]["passed"], rows["all"]["pass_rate"]) == (3, 2, 0.6667)
    assert "| fake.v1:fake |" in (run.judge / "pass_rates.md").read_text()
    typo = CliRunner().invoke(app, ["judge", "--run", str(run.root), "--config", str(config), "--sample", "0"])
    assert typo.exit_code != 0
