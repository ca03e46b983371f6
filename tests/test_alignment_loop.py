"""`recgpt align loop` (issue 15, item 7): fingerprinted steps recorded in loop.json, skipped when unchanged, a
killed step run again while the finished ones are kept, sets and adapters where RunFolder names them."""

from __future__ import annotations

import json

import pytest
from alignment_helpers import BAD, SeededFake, fake_embed, judge_answer, tags_answer
from stages_fixtures import tiny_dataset

from recgpt.alignment.config import AlignmentConfig
from recgpt.alignment.harvest import StageConfigs
from recgpt.alignment.loop import LoopInputs, run_loop
from recgpt.alignment.trainer import TrainingResult
from recgpt.llm.config import LLMConfig
from recgpt.llm.fake import FakeBackend
from recgpt.llm.runtime import LLMRuntime
from recgpt.runfolder import RunFolder
from recgpt.stages.config import InterestsConfig, TagsConfig
from recgpt.stages.postchecks import EmbeddingCache

STAGES = StageConfigs(InterestsConfig(), TagsConfig(hints_per_interest=0, interests_per_user=1, tags_per_interest=2))
GOOD = tags_answer("fine blue gel pens", "spiral dotted journals")


class Killed(Exception):
    pass


def _inputs(tmp_path, trained, teacher_calls, kill_at=None, **alignment):
    run = RunFolder(tmp_path / "run")

    def teacher():
        def answer(prompt):
            teacher_calls.append(prompt)
            return GOOD
        return LLMRuntime(LLMConfig(progress=False), cache_path=run.llm_cache, backend=FakeBackend(answer))

    def student(adapter, temperature):
        answer = GOOD if adapter else tags_answer(f"{BAD} blue scraps", "fine blue gel pens")
        return LLMRuntime(LLMConfig(progress=False, temperature=temperature), cache_path=run.llm_cache,
                          backend=SeededFake(lambda prompt, seed: answer, model=f"student {adapter}"))

    def train(training_set, out, config, base, from_adapter, progress=None):
        if kill_at is not None and out.name == kill_at:
            raise Killed(out.name)
        trained.append((out.name, from_adapter, len(training_set.samples)))
        (out / "adapter").mkdir(parents=True, exist_ok=True)
        return TrainingResult(out / "adapter", {"metrics": {"steps": 1}})

    config = AlignmentConfig.model_validate({
        "curriculum": {"only": ["title-category", "what-to-buy"], "holdout_share": 0.0},
        "distill": {"tasks": ["tags"], "users": 2, "holdout_share": 0.0},
        "self_training": {"rounds": 2, "samples": 2, "users": 2, "heldout_users": 1},
        "judge": {"llm": {"progress": False}}, **alignment})
    return LoopInputs(run, tiny_dataset(), None, config, STAGES, LLMConfig(progress=False), teacher=teacher,
                      student=student, judge_backend=FakeBackend(judge_answer), train_fn=train,
                      vectors=EmbeddingCache(fake_embed))


def test_the_loop_runs_every_step_in_order_and_a_rerun_redoes_nothing(tmp_path):
    trained, teacher_calls = [], []
    results = run_loop(_inputs(tmp_path, trained, teacher_calls))
    assert list(results) == ["judge-training", "curriculum", "distill-tags", "self-tags", "evaluate-tags"]
    assert "too few" in results["judge-training"]["skipped"]  # no human labels in the buffer
    names = [name for name, _, _ in trained]
    assert names == ["curriculum-curriculum-title-category", "curriculum-curriculum-what-to-buy", "tags-teacher",
                     "tags-self-r1"]
    # each training continues the adapter before it
    assert [src for _, src, _ in trained][1:] == [str(tmp_path / "run/alignment/models" / n / "adapter")
                                                  for n in names[:-1]]
    run = RunFolder(tmp_path / "run")
    assert run.distill_set("tags").exists() and run.self_set("tags", 1).exists()
    assert run.curriculum_set("title-category").exists()
    rates = results["evaluate-tags"]["rates"]
    assert rates["base"]["overall"] == 0.5 and rates["curriculum"]["overall"] == 1.0
    assert "stopped" in results["self-tags"] and "did not rise" in results["self-tags"]["stopped"]
    report = run.loop_report.read_text()
    assert "| base |" in report and "self-training round 1" in report and "judge:relevance" in report
    asked = len(teacher_calls)
    run_loop(_inputs(tmp_path, trained, teacher_calls))
    assert len(trained) == 4 and len(teacher_calls) == asked  # every step's fingerprint matched


def test_a_killed_step_runs_again_and_the_finished_ones_are_kept(tmp_path):
    trained, teacher_calls = [], []
    with pytest.raises(Killed):
        run_loop(_inputs(tmp_path, trained, teacher_calls, kill_at="tags-self-r1"))
    state = json.loads(RunFolder(tmp_path / "run").loop_state.read_text())["steps"]
    assert sorted(state) == ["curriculum", "distill-tags", "judge-training"]
    before = list(trained)
    results = run_loop(_inputs(tmp_path, trained, teacher_calls))
    assert [name for name, _, _ in before] == ["curriculum-curriculum-title-category",
                                               "curriculum-curriculum-what-to-buy", "tags-teacher"]
    assert [name for name, _, _ in trained[len(before):]] == ["tags-self-r1"]  # curriculum, distillation kept
    assert trained[-1][1].endswith("tags-teacher/adapter") and "evaluate-tags" in results


def test_a_changed_setting_reruns_its_step_and_those_after_it_only(tmp_path):
    trained, teacher_calls = [], []
    run_loop(_inputs(tmp_path, trained, teacher_calls))
    count = len(trained)
    run_loop(_inputs(tmp_path, trained, teacher_calls,
                     self_training={"rounds": 1, "samples": 3, "users": 2, "heldout_users": 1}))
    assert [name for name, _, _ in trained[count:]] == ["tags-self-r1"]


def test_the_judge_is_trained_first_from_the_buffers_labels_and_then_filters(tmp_path):
    from test_alignment_judge_training import labelled_buffer

    trained, teacher_calls = [], []
    inputs = _inputs(tmp_path, trained, teacher_calls, loop={"steps": ["judge_training", "distill"]},
                     judge_training={"heldout_share": 0.5, "deploy_accuracy": 0.9})
    labelled_buffer(inputs.run.judge_buffer).close()
    inputs.extra["judge_runtime"] = lambda adapter: LLMRuntime(
        LLMConfig(progress=False), cache_path=inputs.run.llm_cache,
        backend=FakeBackend(judge_answer if adapter else (lambda p: '{"relevance": {"reason": "r", "verdict": "yes"}}'),
                            model=f"judge {adapter}"))
    results = run_loop(inputs)
    assert results["judge-training"]["deployed"] and trained[0][0] == "model"  # RUN/judge/model
    assert "Table 9" in inputs.run.loop_report.read_text()
