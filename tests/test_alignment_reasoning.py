"""Reasoning in the answer formats and the one-call tag template (issue 15, item 1), with the scripted fake LLM."""

from __future__ import annotations

import json

from stages_fixtures import fake_runtime, tiny_dataset

from recgpt.llm.prompts import PromptLibrary
from recgpt.stages.config import ExplanationsConfig, InterestsConfig, TagsConfig
from recgpt.stages.context import build_contexts
from recgpt.stages.postchecks import EmbeddingCache
from recgpt.stages.schemas import (InterestsAnswerReasoned, UserTagsAnswer, answer_schema, strip_reasoning)
from recgpt.stages.tags import predict_tags, tag_requests


def test_the_format_picks_its_packaged_template_version_and_a_pinned_one_stays():
    assert [TagsConfig().template_version, TagsConfig(reasoning=True).template_version,
            TagsConfig(call="per_user").template_version] == ["v4", "v2", "v3"]
    assert InterestsConfig(reasoning=True).template_version == "v2" and ExplanationsConfig().template_version == "v3"
    assert TagsConfig(template_version="v1", reasoning=True).template_version == "v1"
    assert list(answer_schema("interests", True).model_fields)[0] == "reasoning"  # the thought comes first
    assert answer_schema("tags", per_user=True) is UserTagsAnswer
    assert list(answer_schema("tags", True, per_user=True).model_fields) == ["reasoning", "tags"]


def test_reasoning_templates_ask_for_it_and_the_plain_ones_do_not():
    library = PromptLibrary()
    for task in ("interests", "tags", "explanations"):
        assert '"reasoning"' in library.resolve(task, "v2")[1].read_text()
        assert '"reasoning"' not in library.resolve(task, "v1")[1].read_text()


def test_strip_reasoning_keeps_the_answer_and_drops_the_thought():
    answer = InterestsAnswerReasoned.model_validate(
        {"reasoning": "pens twice", "interests": [{"interest": "gel pens", "stage": "listed", "reason": "bought"}]})
    assert json.loads(strip_reasoning(answer.model_dump_json())) == {
        "interests": [{"interest": "gel pens", "stage": "listed", "reason": "bought"}]}
    assert strip_reasoning("not json") == "not json"


def test_one_call_per_user_asks_for_all_tags_and_keeps_each_tags_interest(tmp_path):
    dataset = tiny_dataset()
    contexts = build_contexts(dataset, ["u1"], "test")
    config = TagsConfig(call="per_user", tags_per_user=4, hints_per_interest=0, reasoning=True,
                        history_copy_similarity=0.99)
    requests = tag_requests(contexts["u1"], ["gel pens", "notebooks"], config)
    assert len(requests) == 1 and requests[0].version == "v3"
    answer = {"reasoning": "writes a lot", "tags": [
        {"tag": "fine tip gel pens", "interest": "gel pens", "reason": "likes pens"},
        {"tag": "dotted grid journals", "interest": "Notebooks", "reason": "writes"},
        {"tag": "pastel highlighter markers", "interest": "something else", "reason": "study"}]}
    runtime, backend = fake_runtime(lambda prompt: json.dumps(answer), tmp_path)
    outcome = predict_tags(contexts, {"u1": ["gel pens", "notebooks"]}, runtime, config, vectors=EmbeddingCache())
    prompt = backend.prompts[0]
    assert "Write 4 tags" in prompt and "about 2 each" in prompt and '"reasoning"' in prompt
    rows = outcome.table.to_pylist()
    assert [(r["tag"], r["interest"]) for r in rows] == [
        ("fine tip gel pens", "gel pens"), ("dotted grid journals", "notebooks"),
        ("pastel highlighter markers", "gel pens")]  # an interest the call did not list falls back to the first


def test_the_incremental_set_refuses_the_one_call_format_by_name():
    import pytest

    from recgpt.alignment.config import IncrementalConfig
    from recgpt.alignment.incremental import IncrementalSetBuilder
    from recgpt.alignment.records import TrainingSetError

    with pytest.raises(TrainingSetError, match="tags.call: per_interest"):
        IncrementalSetBuilder(tiny_dataset(), None, TagsConfig(call="per_user"), IncrementalConfig())
