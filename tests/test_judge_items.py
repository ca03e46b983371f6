"""Reading stage outputs from a run folder: keys, context, the stages' recorded post-check verdicts."""

import pyarrow as pa
import pyarrow.parquet as pq
from judge_helpers import make_run

from recgpt.judge.items import load_items, sample_items


def test_items_carry_context_rule_verdicts_and_content_keys(tmp_path):
    run = make_run(tmp_path / "run")
    items = load_items(run)
    tag = next(i for i in items if i.item_key.startswith("user 7 tag 1 #"))
    assert tag.rule_passed is False and tag.rule_notes == "stage post-check failed: shape"
    assert tag.context["User interests"] == "Home office organisation"
    expl = next(i for i in items if i.task == "explanations")
    assert expl.context["Item title"] == "Swingline Heavy Duty Stapler" and expl.rule_passed is True
    # the same output elsewhere gets the same key; a different output in the same place does not
    assert [i.item_key for i in load_items(make_run(tmp_path / "copy"))] == [i.item_key for i in items]
    other = make_run(tmp_path / "other", explanation_text="Something else entirely for your desk.")
    assert next(i for i in load_items(other) if i.task == "explanations").item_key != expl.item_key


def test_interests_all_is_preferred_and_over_cap_is_not_a_quality_failure(tmp_path):
    run = make_run(tmp_path / "run")
    pq.write_table(pa.table({"user_id": ["7", "7", "7"], "interest_id": ["0", "1", "2"],
                             "interest": ["Home office organisation", "Rocket science", "Desk lamps"],
                             "stage": ["listed"] * 3, "reason": ["staples", "none", "lamp"],
                             "passed_checks": [True, False, False],
                             "failed_check": [None, "ungrounded", "over_cap"]}),
                   run.interests.with_name("interests_all.parquet"))
    interests = [i for i in load_items(run) if i.task == "interests"]
    assert [(i.output["interest"], i.rule_passed) for i in interests] == [
        ("Home office organisation", True), ("Rocket science", False), ("Desk lamps", None)]
    # the tags see the kept interests (interests.parquet), not the ones the checks removed
    assert next(i for i in load_items(run) if i.task == "tags").context["User interests"] == "Home office organisation"
    picked = sample_items(load_items(run), 1, seed=3)
    assert [i.task for i in picked] == ["interests", "tags", "explanations"]
    assert sample_items(load_items(run), 1, seed=3) == picked
