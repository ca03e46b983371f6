"""Prompt templates of the three stages render with the runtime, and answers parse into their schemas."""

import json

import pytest
from pydantic import ValidationError

from recgpt.stages.context import build_contexts
from recgpt.stages.explanation_checks import PROMPT_EXAMPLE
from recgpt.stages.config import InterestsConfig, TagsConfig
from recgpt.stages.interests import interest_request
from recgpt.stages.schemas import ExplanationAnswer, InterestsAnswer, TagsAnswer
from recgpt.stages.tags import tag_requests
from stages_fixtures import fake_runtime, tiny_dataset


@pytest.fixture(scope="module")
def contexts():
    return build_contexts(tiny_dataset(), ["u1", "u2"], "test")


def test_interests_prompt_has_behavior_pool_and_user_specific_example(contexts):
    runtime, _ = fake_runtime(["{}"])
    request = interest_request(contexts["u1"], ["pens", "notebooks"], InterestsConfig(ask_interests=5))
    text = runtime.render(request.task, request.variables, request.version)
    assert "Moleskine Classic Hard Cover Notebook" in text  # the compressed behavior
    assert "- pens\n- notebooks" in text
    assert "Write 5 interests" in text
    example = json.loads(request.variables["example"])
    assert example["interest"] == "pens" and "Uni-ball" in example["reason"]  # newest item (dev target), own data
    assert request.variables["example"] in text


def test_tags_prompt_asks_one_interest_with_season_and_recent_items(contexts):
    runtime, _ = fake_runtime(["{}"])
    requests = tag_requests(contexts["u1"], ["calligraphy", "journaling"], TagsConfig(tags_per_interest=4))
    assert [r.variables["interest"] for r in requests] == ["calligraphy", "journaling"]
    text = runtime.render("tags", requests[0].variables, requests[0].version)
    assert "Interest: calligraphy" in text and "Other interests: journaling" in text
    assert "2024-01-14 (winter)" in text  # dev target (day 60) is the last visible event -> next day
    assert "Write 4 tags" in text
    assert "fountain pen ink" in text  # search sequence


def test_explanation_prompt_has_item_only_variant():
    runtime, _ = fake_runtime(["{}"])
    common = {"item_title": "Gel pens", "item_category": "Pens", "tags": [], "date": "2024-01-01", "season": "winter"}
    with_interest = runtime.render("explanations", {**common, "interest": "calligraphy"}, "v1")
    item_only = runtime.render("explanations", {**common, "interest": ""}, "v1")
    assert "User interest: calligraphy" in with_interest
    assert "User interest" not in item_only and "product itself" in item_only
    assert PROMPT_EXAMPLE in item_only  # the example the post-checks reject when copied


def test_schemas_accept_the_example_shapes_and_reject_wrong_ones():
    assert InterestsAnswer.model_validate_json(
        '{"interests": [{"interest": "a", "stage": "listed", "reason": "b"}]}').interests[0].stage == "listed"
    with pytest.raises(ValidationError):
        InterestsAnswer.model_validate_json('{"interests": [{"interest": "a", "stage": "maybe", "reason": "b"}]}')
    assert TagsAnswer.model_validate_json('{"tags": [{"tag": "a b", "reason": "c"}]}').tags[0].tag == "a b"
    assert ExplanationAnswer.model_validate_json('{"explanation": "x"}').explanation == "x"


def test_newest_lines_respects_both_limits():
    from recgpt.stages.context import newest_lines

    lines = ["2019 | a", "2020 | b", "2021 | c"]
    assert newest_lines(lines, 2, 1000) == "2020 | b\n2021 | c"
    assert newest_lines(lines, 3, 12) == "2021 | c"
    assert newest_lines(["x" * 50], 3, 10) == "x" * 10


def test_packaged_tag_and_explanation_prompts_put_the_shared_text_first(contexts):
    """Tags v4 and explanations v3 order their text so that calls share a long beginning, which the
    torch engine computes once: a user's calls differ only after the user's whole history, and two
    explanations of the same variant only after the task, rules and answer format."""
    from os.path import commonprefix

    runtime, _ = fake_runtime(["{}"])
    requests = tag_requests(contexts["u1"], ["calligraphy", "journaling"], TagsConfig(tags_per_interest=4))
    assert requests[0].version == "v4"
    first, second = (runtime.render("tags", r.variables, r.version) for r in requests)
    shared = commonprefix([first, second])
    assert "fountain pen ink" in shared and "2024-01-14 (winter)" in shared  # the history and the date
    assert "calligraphy" not in shared and first.index("Interest: calligraphy") > first.index("Searched:")
    other_user = tag_requests(contexts["u2"], ["calligraphy"], TagsConfig(tags_per_interest=4))[0]
    assert "Write 4 tags" in commonprefix([first, runtime.render("tags", other_user.variables, "v4")])

    common = {"item_category": "Pens", "tags": [], "date": "2024-01-01", "season": "winter", "interest": "",
              "example": PROMPT_EXAMPLE}
    pens, clips = (runtime.render("explanations", {**common, "item_title": title}, "v3")
                   for title in ("Gel pens", "Paper clips"))
    shared = commonprefix([pens, clips])
    assert "product itself" in shared and f'{{"explanation": "{PROMPT_EXAMPLE}"}}' in shared
    assert "Product: Gel pens" not in shared
    with_interest = runtime.render("explanations", {**common, "item_title": "Gel pens", "interest": "calligraphy"},
                                   "v3")
    assert with_interest.rstrip().endswith("(winter)") and "User interest: calligraphy" in with_interest
