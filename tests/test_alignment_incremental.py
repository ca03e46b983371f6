"""The incremental-learning set (report 2.2.2) on a tiny log with a known answer: which behaviors become
targets, what history each sample sees, purification, interest completion and the two-stage balancing."""

from __future__ import annotations

import json

import pytest
from stages_fixtures import tiny_dataset

from recgpt.alignment.config import IncrementalConfig
from recgpt.alignment.incremental import IncrementalSetBuilder, cuts, mined_interests
from recgpt.alignment.records import TrainingSet, TrainingSetError
from recgpt.stages.config import PhiConfig, TagsConfig
from recgpt.stages.phi import TagToCategory
from recgpt.stages.postchecks import EmbeddingCache

RELIABLE = {"purchase", "cart", "favorite", "detail_view", "review"}


def _events(*behaviors):
    return [{"behavior": b, "timestamp": i, "item_id": f"i{i}"} for i, b in enumerate(behaviors)]


def test_cuts_take_the_window_of_reliable_behaviors_strictly_after_the_history():
    events = _events("purchase", "click", "purchase", "cart", "purchase")
    assert cuts(events, IncrementalConfig(last_n=2), RELIABLE) == [(3, [3, 4])]
    assert cuts(events, IncrementalConfig(last_n=2, skip_last=1), RELIABLE) == [(2, [2, 3])]  # the older window
    assert cuts(events, IncrementalConfig(positions="all", horizon=2, min_history=1), RELIABLE) == [
        (2, [2, 3]), (3, [3, 4]), (4, [4])]
    assert cuts(events, IncrementalConfig(last_n=9, min_history=1), RELIABLE) == [(2, [2, 3, 4])]  # never index 0
    days = [{"behavior": "purchase", "timestamp": d * 86400, "item_id": "x"} for d in (0, 1, 20, 30)]
    assert cuts(days, IncrementalConfig(window="days", days=14), RELIABLE) == [(2, [2, 3])]


@pytest.fixture(scope="module")
def built():
    dataset = tiny_dataset()
    vectors = EmbeddingCache()
    items = dataset.items
    phi = TagToCategory(PhiConfig(holdout_share=0.0)).fit(
        items.column("title").to_pylist(), items.column("category").to_pylist(), items.column("brand").to_pylist())
    tags_config = TagsConfig(hints_per_interest=0, history_copy_similarity=0.99)
    config = IncrementalConfig(last_n=2, holdout_share=0.0)
    builder = IncrementalSetBuilder(dataset, phi, tags_config, config, vectors=vectors)
    return dataset, phi, tags_config, builder, builder.build()


def test_targets_come_from_the_training_fold_and_never_sit_in_their_own_history(built):
    dataset, _, _, _, training_set = built
    train = {(r["user_id"], r["item_id"]) for r in dataset.events.to_pylist()}
    by_user = {}
    for sample in training_set.samples:
        by_user.setdefault(sample.user_id, []).extend(sample.provenance["items"])
        assert {(sample.user_id, i) for i in sample.provenance["items"]} <= train
    # u1 bought p1, p2, n1: the last two are targets, seen from a history holding p1 only
    assert sorted(by_user["u1"]) == ["n1", "p2"]  # never u1's dev item p3 or test item n2
    prompt = next(s for s in training_set.samples if s.user_id == "u1").messages[-1]["content"]
    assert "Pilot G2" in prompt and "Sharpie" not in prompt and "Moleskine" not in prompt


def test_each_sample_is_the_stage_prompt_and_the_stage_answer(built):
    _, _, _, _, training_set = built
    assert training_set.task == "tags" and training_set.template_version == "v4"
    for sample in training_set.samples:
        answer = json.loads(sample.completion)
        assert list(answer) == ["tags"] and len(answer["tags"]) == len(sample.provenance["items"])
        prompt = sample.messages[-1]["content"]
        assert f"Write {len(answer['tags'])} tags" in prompt  # asks for exactly what the completion holds
        for tag in answer["tags"]:
            assert tag["reason"].startswith("fits ") and tag["tag"] == tag["tag"].lower()
            assert f'Interest: {sample.provenance.get("interest", tag["reason"][5:].split(",")[0])}' in prompt
        assert sample.source == "logs" and sample.provenance["interest_source"] == "category"


def test_mined_interests_name_the_interest_of_their_categories(built):
    dataset, phi, tags_config, _, _ = built
    import pyarrow as pa

    interests = pa.table({"user_id": ["u1"], "interest": ["spiral notebooks"], "passed_checks": [True]})
    mined = mined_interests(interests, phi, top=1)
    assert mined == {"u1": {"spiral notebooks": {"Notebooks"}}}
    builder = IncrementalSetBuilder(dataset, phi, tags_config, IncrementalConfig(last_n=2, holdout_share=0.0),
                                    mined=mined, vectors=EmbeddingCache())
    samples = [s for s in builder.build().samples if s.user_id == "u1"]
    sources = {s.provenance["interest_source"]: s for s in samples}
    assert "Interest: spiral notebooks" in sources["mined"].messages[-1]["content"]
    assert sources["mined"].provenance["items"] == ["n1"] and sources["category"].provenance["items"] == ["p2"]


def test_balancing_keeps_at_most_n_per_user_and_per_category(built):
    dataset, phi, tags_config, _, _ = built
    config = IncrementalConfig(positions="all", horizon=3, per_user=2, per_category=1, holdout_share=0.0)
    training_set = IncrementalSetBuilder(dataset, phi, tags_config, config, vectors=EmbeddingCache()).build()
    for user in {s.user_id for s in training_set.samples}:
        mine = [s for s in training_set.samples if s.user_id == user]
        categories = [c for s in mine for c in s.provenance["categories"]]
        assert len(categories) <= 2 and len(set(categories)) == len(categories)
    assert training_set.counts["balanced_per_category"] + training_set.counts["balanced_per_user"] > 0


def test_a_set_round_trips_and_exports_chat_lines(built, tmp_path):
    *_, training_set = built
    path = training_set.write(tmp_path / "il.parquet")
    again = TrainingSet.read(path)
    assert again.samples == training_set.samples and again.builder == "incremental.v1"
    lines = [json.loads(line) for line in again.export_jsonl(tmp_path / "il.jsonl").read_text().splitlines()]
    assert len(lines) == len(again.split("train"))
    assert lines[0]["prompt"][-1]["role"] == "user" and lines[0]["completion"][0]["role"] == "assistant"


def test_an_empty_set_is_an_error_naming_what_was_dropped(built):
    dataset, phi, _, _, _ = built
    strict = TagsConfig(hints_per_interest=0, min_words=9)  # every tag fails the shape check
    builder = IncrementalSetBuilder(dataset, phi, strict, IncrementalConfig(last_n=2), vectors=EmbeddingCache())
    with pytest.raises(TrainingSetError, match="empty.*purified_shape"):
        builder.build()


def _targets(training_set) -> list[tuple[str, str]]:
    return sorted((s.user_id, i) for s in training_set.samples for i in s.provenance["items"])


def test_a_tag_too_long_to_be_an_answer_is_dropped_and_counted(built):
    dataset, phi, tags_config, _, _ = built

    class LongTagForN1(IncrementalSetBuilder):
        def tag_of(self, item_id: str) -> str:
            return "extraordinarily " * 5 + "notebook" if item_id == "n1" else super().tag_of(item_id)

    config = IncrementalConfig(last_n=2, holdout_share=0.0, purify="none")
    training_set = LongTagForN1(dataset, phi, tags_config, config, vectors=EmbeddingCache()).build()
    assert ("u1", "n1") not in _targets(training_set) and ("u1", "p2") in _targets(training_set)
    assert training_set.counts["dropped_too_long"] == 1


def _behavior_judge(prompt: str) -> str:
    """A scripted judge: the Moleskine notebook is an irrelevant behavior, everything else passes."""
    assert "Task: Reliable behavior" in prompt
    output = prompt.split("# The output to judge")[1].split("# Criteria")[0]
    relevant = "no" if "Moleskine" in output else "yes"
    return json.dumps({"relevance": {"reason": "r", "verdict": relevant}, "timeliness": {"reason": "t", "verdict": "yes"}})


def test_judge_purification_drops_what_the_judge_rejects_and_resumes_from_the_buffer(built, tmp_path):
    from recgpt.alignment.purify import JudgePurifier
    from recgpt.judge.buffer import JudgeBuffer
    from recgpt.judge.config import JudgeConfig
    from recgpt.judge.llm_judge import LLMJudge
    from recgpt.llm.fake import FakeBackend
    from recgpt.llm.runtime import LLMConfig, LLMRuntime

    dataset, phi, tags_config, _, rules_only = built
    fake = FakeBackend(_behavior_judge, model="scripted")
    config = IncrementalConfig(last_n=2, holdout_share=0.0, purify="judge")
    with LLMRuntime(LLMConfig(backend="fake", progress=False), cache_path=tmp_path / "cache.sqlite",
                    backend=fake) as runtime:
        buffer = JudgeBuffer(tmp_path / "buffer.sqlite")
        purifier = JudgePurifier(LLMJudge(JudgeConfig(), runtime), buffer)
        judged = IncrementalSetBuilder(dataset, phi, tags_config, config, purifier=purifier).build()
        assert _targets(judged) == [t for t in _targets(rules_only) if t[1] != "n1"]  # n1 is the Moleskine notebook
        assert judged.counts["judge_dropped"] == judged.counts["judge_failed_relevance"] == 1
        assert judged.counts["judge_failed_timeliness"] == 0
        verdicts = buffer.verdicts(task="behaviors", source="llm")
        assert {v.criterion for v in verdicts} == {"relevance", "timeliness"} and len(verdicts) == 2 * fake.calls
        assert any("Moleskine" in v.output["item"] and not v.passed for v in verdicts)
        calls = fake.calls
        again = IncrementalSetBuilder(dataset, phi, tags_config, config,
                                      purifier=JudgePurifier(LLMJudge(JudgeConfig(), runtime), buffer)).build()
        assert fake.calls == calls and _targets(again) == _targets(judged)  # the buffer answers: no new call
        buffer.close()
    with pytest.raises(ValueError, match="purify=judge"):
        IncrementalSetBuilder(dataset, phi, tags_config, config)
    with pytest.raises(ValueError, match="unknown behaviors criteria"):
        JudgePurifier(LLMJudge(JudgeConfig(), runtime), buffer, ["willingness"])
