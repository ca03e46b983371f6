"""`recgpt align pass-rates` (issue 15): the held-out pass rates of the base model and named tuned models, side
by side, on the same held-out users. The student is scripted: its share of good tags is known per adapter."""

from __future__ import annotations

import json

from alignment_helpers import BAD, SeededFake, tags_answer
from stages_fixtures import tiny_dataset
from typer.testing import CliRunner

from recgpt.cli.main import app
from recgpt.data.store import save_dataset
from recgpt.llm.config import LLMConfig
from recgpt.llm.runtime import LLMRuntime
from recgpt.runfolder import RunFolder

CONFIG = """
tags: {hints_per_interest: 0, interests_per_user: 1, tags_per_interest: 2}
alignment:
  self_training: {users: 2, heldout_users: 2, filter: {judge: false}}
"""


def _good_tags(adapter: str | None) -> int:
    """Good tags out of two: none from the base model, one from model "half", two from model "good"."""
    return {"half": 1, "good": 2}.get(adapter.split("/")[-2] if adapter else "", 0)


def _scripted_student(tmp_path, asked: list):
    def student_runtime(run, llm):
        def make(adapter, temperature):
            asked.append((adapter, temperature))
            good = _good_tags(adapter)

            def answer(prompt, seed):
                return tags_answer(*[f"fine {w} gel pens" if n < good else f"{BAD} {w} a b c d e f g h i j"
                                     for n, w in enumerate(("blue", "green"))])

            return LLMRuntime(LLMConfig(progress=False, temperature=temperature), cache_path=tmp_path / "s.sqlite",
                              backend=SeededFake(answer, model=f"student-{adapter}"))
        return make
    return student_runtime


def _run(tmp_path) -> RunFolder:
    run = RunFolder(tmp_path / "run")
    save_dataset(tiny_dataset(), run.data)
    for name in ("half", "good"):
        run.tuned_model(name).mkdir(parents=True)
        (run.tuned_model(name) / "manifest.json").write_text(json.dumps({"method": "lora"}))
    (tmp_path / "c.yaml").write_text(CONFIG)
    return run


def test_each_named_model_is_asked_greedily_and_its_pass_rate_is_reported_beside_the_base(tmp_path, monkeypatch):
    import recgpt.alignment.selftrain as selftrain

    asked: list = []
    monkeypatch.setattr(selftrain, "student_runtime", _scripted_student(tmp_path, asked))
    run = _run(tmp_path)
    result = CliRunner().invoke(app, ["align", "pass-rates", "--run", str(run.root), "--config",
                                      str(tmp_path / "c.yaml"), "--task", "tags", "--model", "half", "--model", "good"])
    assert result.exit_code == 0, result.output
    out = json.loads(run.pass_rates("tags").read_text())
    assert {name: rates["overall"] for name, rates in out["rates"].items()} == {"base": 0.0, "half": 0.5, "good": 1.0}
    assert {name: (r["items_per_answer"], r["kept_per_answer"]) for name, r in out["rates"].items()} == {
        "base": (2.0, 0.0), "half": (2.0, 1.0), "good": (2.0, 2.0)}
    assert out["users"] == 2 and out["judge"] is False
    assert out["models"]["good"] == str(run.tuned_model("good") / "adapter")
    assert [a for a, _ in asked] == [None, out["models"]["half"], out["models"]["good"]]
    assert {t for _, t in asked} == {0.0}  # greedy
    assert "| model | post_checks | overall | items_per_answer | kept_per_answer |" in result.output
    assert "| half | 0.500 | 0.500 | 2.000 | 1.000 |" in result.output


def test_a_model_without_a_finished_training_is_an_error_naming_its_folder(tmp_path):
    run = _run(tmp_path)
    result = CliRunner().invoke(app, ["align", "pass-rates", "--run", str(run.root), "--config",
                                      str(tmp_path / "c.yaml"), "--model", "nope"])
    assert result.exit_code != 0
    assert str(run.tuned_model("nope")) in result.output and "no finished LoRA training" in result.output
