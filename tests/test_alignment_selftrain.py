"""Self-training rounds (issue 15, item 3): sets written per round, each training continuing the last adapter,
and the stop when the held-out pass rate stops rising. The student and the trainer are scripted."""

from __future__ import annotations

from contextlib import ExitStack

from alignment_helpers import BAD, SeededFake, fake_embed, judge_answer, tags_answer
from stages_fixtures import tiny_dataset

from recgpt.alignment.config import AlignmentConfig
from recgpt.alignment.harvest import StageConfigs
from recgpt.alignment.purify import JudgePurifier
from recgpt.alignment.records import TrainingSet
from recgpt.alignment.selftrain import self_train
from recgpt.alignment.trainer import TrainingResult
from recgpt.judge.config import JudgeConfig
from recgpt.judge.grade import open_judge
from recgpt.llm.config import LLMConfig
from recgpt.llm.fake import FakeBackend
from recgpt.llm.runtime import LLMRuntime
from recgpt.runfolder import RunFolder
from recgpt.stages.config import InterestsConfig, TagsConfig
from recgpt.stages.postchecks import EmbeddingCache

STAGES = StageConfigs(InterestsConfig(), TagsConfig(hints_per_interest=0, interests_per_user=1, tags_per_interest=2))


def _good(adapter) -> int:
    """How many of the student's two tags are good: 0 for the base model, 1 for adapter r1, 2 for a trained one."""
    return {None: 0, "r1": 1}.get(adapter and adapter.rsplit("/", 1)[-1], 2)


def test_rounds_retrain_from_the_last_adapter_and_stop_when_the_heldout_pass_rate_stops_rising(tmp_path):
    run = RunFolder(tmp_path / "run")
    trained = []

    def make_runtime(adapter, temperature):
        good = _good(adapter)

        def answer(prompt, seed):
            words = ("blue", "green")
            return tags_answer(*[f"fine {w} gel pens" if n < good else f"{BAD} {w} scraps" for n, w in enumerate(words)])

        return LLMRuntime(LLMConfig(progress=False, temperature=temperature), cache_path=tmp_path / "s.sqlite",
                          backend=SeededFake(answer, model=f"student-{adapter}"))

    def fake_train(training_set, out, config, base, from_adapter, progress=None):
        trained.append((out.name, from_adapter, len(training_set.samples)))
        return TrainingResult(tmp_path / f"t{len(trained)}", {"metrics": {"steps": 1}})

    alignment = AlignmentConfig(self_training={"rounds": 4, "samples": 2, "users": 2, "heldout_users": 1})
    with ExitStack() as stack:
        judge, buffer, round = stack.enter_context(
            open_judge(run.root, JudgeConfig(llm=LLMConfig(progress=False)), backend=FakeBackend(judge_answer)))
        purifiers = {"tags": JudgePurifier(judge, buffer, None, round, task="tags")}
        result = self_train(run, tiny_dataset(), None, "tags", alignment, STAGES, make_runtime, purifiers,
                            train_fn=fake_train, vectors=EmbeddingCache(fake_embed))
    assert result.start["overall"] == 0.0
    # round 1 samples from the base model: nothing passes, so it stops there with no training
    assert [r.round for r in result.rounds] == [1] and result.stopped == "round 1 kept no answer" and not trained

    trained.clear()
    start = str(tmp_path / "r1")  # start from an adapter whose answers are half good
    with ExitStack() as stack:
        judge, buffer, round = stack.enter_context(
            open_judge(run.root, JudgeConfig(llm=LLMConfig(progress=False)), backend=FakeBackend(judge_answer)))
        purifiers = {"tags": JudgePurifier(judge, buffer, None, round, task="tags")}
        result = self_train(run, tiny_dataset(), None, "tags", alignment, STAGES, make_runtime, purifiers,
                            adapter=start, train_fn=fake_train, vectors=EmbeddingCache(fake_embed))
    assert result.start["overall"] == 0.5, result
    rates = [r.heldout["overall"] for r in result.rounds]
    assert rates == [1.0, 1.0] and "did not rise" in result.stopped  # round 2 gained nothing: stop
    assert [(name, src) for name, src, _ in trained] == [("tags-self-r1", start),
                                                         ("tags-self-r2", str(tmp_path / "t1"))]
    first = TrainingSet.read(run.self_set("tags", 1))
    assert {s.source for s in first.samples} == {"self"} and len(first.samples) == 2  # one kept answer per user
    assert all("scraps" not in s.completion for s in first.samples)


def test_the_stop_rule_can_watch_the_items_kept_per_answer_instead_of_the_pass_rate(tmp_path):
    """Round 2's student writes one good tag where round 1's wrote two good of four: its pass rate rises (0.5 ->
    1.0) while its yield falls (2 -> 1 kept per answer). Only the yield rule stops there."""
    words = ("blue", "green", "red", "black")
    plan = {None: (4, 1), "t1": (4, 2), "t2": (1, 1), "t3": (1, 1)}  # adapter -> (tags written, good ones)

    def make_runtime(adapter, temperature):
        written, good = plan[adapter and adapter.rsplit("/", 1)[-1]]

        def answer(prompt, seed):
            return tags_answer(*[f"fine {w} gel pens" if n < good else f"{BAD} {w} a b c d e f g h i j"
                                 for n, w in enumerate(words[:written])])

        return LLMRuntime(LLMConfig(progress=False, temperature=temperature), cache_path=tmp_path / "s.sqlite",
                          backend=SeededFake(answer, model=f"student-{adapter}"))

    def run_with(stop_on: str):
        trained = []

        def fake_train(training_set, out, config, base, from_adapter, progress=None):
            trained.append(out.name)
            return TrainingResult(tmp_path / f"t{len(trained)}", {"metrics": {"steps": 1}})

        alignment = AlignmentConfig(self_training={"rounds": 3, "samples": 1, "users": 2, "heldout_users": 1,
                                                   "stop_on": stop_on, "filter": {"judge": False}})
        return self_train(RunFolder(tmp_path / stop_on), tiny_dataset(), None, "tags", alignment, STAGES,
                          make_runtime, train_fn=fake_train, vectors=EmbeddingCache(fake_embed))

    by_rate, by_yield = run_with("pass_rate"), run_with("kept_per_answer")
    assert [r.heldout["overall"] for r in by_rate.rounds] == [0.5, 1.0, 1.0]
    assert [r.heldout["kept_per_answer"] for r in by_rate.rounds] == [2.0, 1.0, 1.0]
    assert "pass rate 1.000 did not rise" in by_rate.stopped and len(by_rate.rounds) == 3
    assert len(by_yield.rounds) == 2 and "items kept per answer 1.000 did not rise" in by_yield.stopped
