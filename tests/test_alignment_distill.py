"""Distillation from a scripted teacher (an OpenAI-compatible server on loopback) and reject sampling, filtered
by the post-checks and a fake judge with known verdicts (issue 15, items 2 and 3)."""

from __future__ import annotations

import json
from contextlib import ExitStack

import pytest
from alignment_helpers import BAD, SeededFake, fake_embed, judge_answer, tags_answer
from llm_fault_server import FaultServer
from stages_fixtures import tiny_dataset

from recgpt.alignment.config import AlignmentConfig
from recgpt.alignment.distill import distill_set
from recgpt.alignment.harvest import Harvester, StageConfigs, stage_prompts
from recgpt.alignment.purify import JudgePurifier
from recgpt.alignment.records import TrainingSet
from recgpt.judge.config import JudgeConfig
from recgpt.judge.grade import open_judge
from recgpt.llm.config import LLMConfig
from recgpt.llm.fake import FakeBackend
from recgpt.llm.runtime import LLMRuntime
from recgpt.runfolder import RunFolder
from recgpt.stages.config import InterestsConfig, TagsConfig
from recgpt.stages.postchecks import EmbeddingCache

STAGES = StageConfigs(InterestsConfig(), TagsConfig(hints_per_interest=0, interests_per_user=1, tags_per_interest=3))
GOOD = ("refillable fountain pen ink", "dotted grid bullet journals")


@pytest.fixture
def judged(tmp_path):
    """(run folder, {"tags": a purifier over a fake judge}) with the judge open for the test."""
    run = RunFolder(tmp_path / "run")
    with ExitStack() as stack:
        judge, buffer, round = stack.enter_context(
            open_judge(run.root, JudgeConfig(llm=LLMConfig(progress=False)), backend=FakeBackend(judge_answer)))
        yield run, {"tags": JudgePurifier(judge, buffer, None, round, task="tags", human=True)}


def test_a_scripted_teacher_server_is_distilled_into_a_teacher_set_of_the_passing_tags_only(judged):
    run, purifiers = judged
    # each answer: two good tags, one the judge fails, one the post-checks fail (a catalog brand)
    answer = tags_answer(*GOOD, f"{BAD} paper scraps", "sharpie permanent markers", reasoning="thinks first")
    with FaultServer(answer=lambda prompt: answer) as server:
        teacher = LLMConfig(backend="openai", progress=False, options={"openai": {
            "base_url": server.url, "model": "teacher-model", "timeout_s": 5}})
        alignment = AlignmentConfig(distill={"teacher": teacher.model_dump(), "holdout_share": 0.0})
        with LLMRuntime(teacher, cache_path=run.llm_cache) as runtime:
            training_set, harvest = distill_set(run, tiny_dataset(), None, "tags", alignment, STAGES, runtime,
                                                purifiers, EmbeddingCache(fake_embed), users=["u1", "u2", "u3"])
        asked = list(server.counts)
    assert len(asked) == 3 and all('"reasoning"' in p for p in asked)  # the teacher got the reasoning template
    stored = TrainingSet.read(run.distill_set("tags"))
    assert stored.builder == "distill.v1" and stored.template_version == "v4" and len(stored.samples) == 3
    for sample in stored.samples:
        assert sample.source == "teacher" and sample.split == "train"
        assert json.loads(sample.completion) == {"tags": [{"tag": t, "reason": f"fits {t.split()[-1]}"} for t in GOOD]}
        assert '"reasoning"' not in sample.messages[-1]["content"]  # the student's own template (v1)
    rates = harvest.rates()
    assert rates["post_checks"] == 0.75 and rates["judge:relevance"] == pytest.approx(2 / 3, abs=1e-3)
    assert rates["overall"] == 0.5 and harvest.counts["failed_brand"] == 3
    assert run.distill_set("tags").with_suffix(".jsonl").exists()


def test_reject_sampling_keeps_exactly_the_answers_that_pass(judged, tmp_path):
    run, purifiers = judged
    answers = {0: tags_answer(*GOOD), 1: tags_answer(f"{BAD} old erasers", f"{BAD} bent clips"),
               2: tags_answer("pilot gel pens"), 3: tags_answer(*GOOD), 4: tags_answer(GOOD[0], f"{BAD} tape")}
    student = SeededFake(lambda prompt, seed: answers[seed % 10])
    prompts = stage_prompts("tags", run, tiny_dataset(), ["u1", "u2"], STAGES, vectors=EmbeddingCache(fake_embed))
    harvester = Harvester(STAGES, AlignmentConfig().self_training.filter, purifiers, EmbeddingCache(fake_embed),
                          ["Pilot", "Sharpie"])
    config = LLMConfig(progress=False, temperature=0.8)
    with LLMRuntime(config, cache_path=tmp_path / "student.sqlite", backend=student) as runtime:
        result = harvester.run(prompts, runtime, seeds=[10, 11, 12, 13, 14], source="self", round=1)
    assert sorted(set(student.seeds)) == [10, 11, 12, 13, 14]
    kept = sorted((s.user_id, s.completion) for s in result.samples)
    # seed 0 and 3 are the same good answer (kept once), seed 4 keeps its good tag only, 1 and 2 are rejected
    assert kept == sorted([(u, tags_answer(*GOOD)) for u in ("u1", "u2")] +
                          [(u, tags_answer(GOOD[0])) for u in ("u1", "u2")])
    assert result.counts["answers_dropped"] == 4 and result.counts["answers_duplicate"] == 2
    assert all(s.source == "self" and s.round == 1 for s in result.samples)


def test_explanations_are_distilled_for_interest_item_pairs_of_one_category(judged):
    run, purifiers = judged
    from recgpt.stages.config import ExplanationsConfig

    stages = StageConfigs(InterestsConfig(), STAGES.tags, ExplanationsConfig(categories_per_interest=2,
                                                                             items_per_interest=1))

    def teacher(prompt: str) -> str:  # a good explanation, except for notebooks: a copy of the title
        if "Notebook" in prompt.split("Product: ")[1].split("\n")[0]:
            title = prompt.split("Product: ")[1].split("\n")[0]
            return json.dumps({"reasoning": "copy", "explanation": title})
        return json.dumps({"reasoning": "links the item", "explanation": "Fresh ink for long evening letters"})

    alignment = AlignmentConfig(distill={"holdout_share": 0.0, "filter": {"judge": False}})
    with LLMRuntime(LLMConfig(progress=False), cache_path=run.llm_cache, backend=FakeBackend(teacher)) as runtime:
        training_set, harvest = distill_set(run, tiny_dataset(), None, "explanations", alignment, stages, runtime,
                                            {}, EmbeddingCache(fake_embed), users=["u1", "u2", "u3"])
    prompts = {s.user_id: s.messages[-1]["content"] for s in training_set.samples}
    # pairs share a category and skip what the user had: u1 gets p3 (pens) and n2 (notebooks, a title copy,
    # dropped), u2 nothing (has both calculators), u3 p2 (pens; has both notebooks)
    assert harvest.counts["prompts"] == 3 and harvest.counts["failed_title_copy"] == 1
    assert sorted(prompts) == ["u1", "u3"]
    assert "Uni-ball" in prompts["u1"] and "Sharpie" in prompts["u3"]
    assert all('"reasoning"' not in p for p in prompts.values())  # the student's v1 template
    assert {json.loads(s.completion)["explanation"] for s in training_set.samples} == {
        "Fresh ink for long evening letters"}
