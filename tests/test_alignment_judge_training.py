"""The trained judge (issue 15, item 5): split of the labelled outputs, the training set, agreement before and
after on the held-out labels, the deploy gate, and with the embedded model a judge that moves toward its labels."""

from __future__ import annotations

import json

import pytest
from alignment_helpers import BAD, judge_answer

from recgpt.alignment.config import JudgeTrainingConfig, TrainerConfig
from recgpt.alignment.judge_training import agreement_on, labelled, split, train_judge, training_set
from recgpt.alignment.trainer import TrainingResult
from recgpt.judge.buffer import JudgeBuffer, Verdict
from recgpt.judge.config import JudgeConfig, RebalanceConfig
from recgpt.judge.grade import deployed_config
from recgpt.llm.config import LLMConfig
from recgpt.llm.fake import FakeBackend
from recgpt.llm.prompts import PromptLibrary
from recgpt.llm.runtime import LLMRuntime
from recgpt.runfolder import RunFolder

TAGS = ["gel pens", "spiral notebooks", "desk lamps", "paper clips", "sticky notes", "file folders", "ink refills",
        "label tapes", "rubber stamps", "index cards"]


def labelled_buffer(path, tags=TAGS) -> JudgeBuffer:
    """One human verdict (relevance) per tag output: every other output holds BAD and is labelled "no"."""
    buffer = JudgeBuffer(path)
    verdicts = []
    for n, tag in enumerate(tags):
        text = f"{BAD} {tag}" if n % 2 else f"fine {tag}"
        verdicts.append(Verdict("tags", f"user {n} tag 0 #{n:08d}", "relevance", "no" if n % 2 else "yes",
                                not n % 2, "human", "alice", "v1", 1,
                                input={"User behavior": "bought pens"}, output={"tag": text, "interest": "writing",
                                                                                 "reason": "fits"},
                                reason="scripted", created_at=float(n)))
    buffer.add(verdicts)
    return buffer


def test_the_split_keeps_outputs_whole_and_the_set_asks_one_criterion(tmp_path):
    buffer = labelled_buffer(tmp_path / "b.sqlite")
    verdicts = labelled(buffer)
    train, held = split(verdicts, 0.3, seed=0)
    assert len(train) + len(held) == 10 and train and held
    assert not {v.item_key for v in train} & {v.item_key for v in held}
    built = training_set(train, RebalanceConfig(), PromptLibrary(), JudgeTrainingConfig())
    for sample in built.samples:
        answer = json.loads(sample.completion)
        assert list(answer) == ["relevance"] and "## relevance:" in sample.messages[-1]["content"]
        assert ("no" if BAD in sample.messages[-1]["content"].split("# Criteria")[0] else "yes") == \
            answer["relevance"]["verdict"]


def _runtime(tmp_path, script, name):
    return LLMRuntime(LLMConfig(progress=False), cache_path=tmp_path / "cache.sqlite",
                      backend=FakeBackend(script, model=name))


def test_a_trained_judge_is_deployed_only_when_it_agrees_enough_and_then_grades(tmp_path):
    run = RunFolder(tmp_path / "run")
    buffer = labelled_buffer(run.judge_buffer)
    trained = []

    def fake_train(training_set, out, config, base, from_adapter, progress=None):
        trained.append(len(training_set.samples))
        return TrainingResult(out / "adapter", {"metrics": {"steps": 1}})

    def make_runtime(good):  # the current judge says "yes" to everything; the trained one follows the labels
        return lambda adapter: _runtime(tmp_path, judge_answer if adapter and good else
                                        (lambda p: json.dumps({"relevance": {"reason": "r", "verdict": "yes"}})),
                                        f"judge {adapter} {good}")

    config = JudgeTrainingConfig(heldout_share=0.5, deploy_accuracy=0.9)
    report = train_judge(run, buffer, config, RebalanceConfig(), LLMConfig(progress=False), make_runtime(True),
                         train_fn=fake_train)
    held = report["heldout_verdicts"]
    assert report["after"]["all"]["accuracy"] == 1.0 and report["before"]["all"]["accuracy"] < 1.0
    assert report["deployed"] and trained and held > 0
    deployed = deployed_config(run, JudgeConfig())
    assert deployed.llm.options["torch"]["adapter"] == str(run.judge_model / "adapter")
    assert deployed.per_criterion and not deployed.prompt_examples  # asked as it was trained
    assert deployed_config(run, JudgeConfig(use_deployed=False)).llm.backend != "torch.v1"
    worse = train_judge(run, buffer, config, RebalanceConfig(), LLMConfig(progress=False), make_runtime(False),
                        train_fn=fake_train)
    assert not worse["deployed"] and worse["adapter"] == report["adapter"]  # the judge deployed before stays


def test_agreement_counts_an_unparsable_answer_as_wrong(tmp_path):
    buffer = labelled_buffer(tmp_path / "b.sqlite", TAGS[:4])
    result = agreement_on(labelled(buffer), _runtime(tmp_path, lambda p: "no idea", "mute"), JudgeTrainingConfig())
    assert result["unparsed"] == 4 and result["all"]["accuracy"] == 0.0


@pytest.mark.llm
@pytest.mark.slow
def test_a_judge_trained_on_a_tiny_labelled_set_moves_toward_the_labels(tmp_path):
    """The base model says "yes" to these outputs; two human "no" labels, trained a few steps, move it to "no"."""
    from recgpt.alignment.judge_training import judge_runtime_factory
    from recgpt.alignment.trainer import train

    run = RunFolder(tmp_path / "run")
    buffer = JudgeBuffer(run.judge_buffer)
    buffer.add([Verdict("tags", f"user {n} tag 0 #{n:08d}", "relevance", "no", False, "human", "alice", "v1", 1,
                        input={"User behavior": "bought pens"},
                        output={"tag": f"{BAD} {tag}", "interest": "writing", "reason": "fits"}, reason="off topic")
                for n, tag in enumerate(TAGS[:2])])
    verdicts = labelled(buffer)
    config = JudgeTrainingConfig(trainer=TrainerConfig(method="lora", lora_r=8, lora_alpha=16, lr=3e-3, epochs=8,
                                                       batch_size=2, max_length=384, threads=1))
    built = training_set(verdicts, RebalanceConfig(), PromptLibrary(), config)
    result = train(built, run.judge_model, config.trainer)
    make = judge_runtime_factory(run, LLMConfig(backend="torch", progress=False))
    with make(None) as base:
        before = agreement_on(verdicts, base, config)
    with make(str(result.folder)) as tuned:
        after = agreement_on(verdicts, tuned, config)
    assert after["all"]["accuracy"] > before["all"]["accuracy"], (before, after)


def test_a_per_criterion_judge_is_asked_exactly_the_prompts_the_trained_judge_learned(tmp_path):
    from recgpt.judge.items import JudgeItem
    from recgpt.judge.llm_judge import LLMJudge

    buffer = labelled_buffer(tmp_path / "b.sqlite", TAGS[:1])
    verdict = labelled(buffer)[0]
    trained = training_set([verdict], RebalanceConfig(), PromptLibrary(), JudgeTrainingConfig())
    backend = FakeBackend(judge_answer)
    config = JudgeConfig(llm=LLMConfig(progress=False), per_criterion=True, prompt_examples=False)
    with LLMRuntime(config.llm, backend=backend) as runtime:
        judge = LLMJudge(config, runtime)
        item = JudgeItem("tags", verdict.item_key, dict(verdict.input), dict(verdict.output), rule_passed=True)
        stats = judge.grade([item], JudgeBuffer(tmp_path / "graded.sqlite"))
    assert len(backend.prompts) == 4 and stats.verdicts == 4  # one call per criterion of the tags rubric
    assert trained.samples[0].messages[-1]["content"] in backend.prompts
