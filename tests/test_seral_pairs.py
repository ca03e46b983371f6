"""SerenGPT's preference pairs: from logs (chosen: the real serendipitous next item; rejected: a new category
not taken, a familiar one) and the collaborative data intervention, on the tiny log with known answers."""

from __future__ import annotations

import json

from seral_helpers import tiny_dataset

from recgpt.seral.config import SeralConfig
from recgpt.seral.pairs import build_pairs, dpo_rows
from recgpt.seral.records import PreferencePair, read_records, write_records
from recgpt.seral.truth import item_categories


def test_log_pairs_take_the_real_serendipitous_item_against_new_and_familiar_ones():
    config = SeralConfig.from_dict({"pairs": {"collaborative_users": 0, "heldout_share": 0}})
    pairs, profiles = build_pairs(tiny_dataset(), config)
    # at the dev fold only u4 (history a1) has a next item, c2, and category C is new to u4
    assert {(p.user_id, p.chosen_item, p.kind) for p in pairs} == {("u4", "c2", "new-not-taken"),
                                                                    ("u4", "c2", "familiar")}
    by_kind = {p.kind: p.rejected_item for p in pairs}
    assert by_kind["familiar"] == "a2"  # the one unseen item of u4's familiar category A
    assert by_kind["new-not-taken"] in {"b1", "b2", "d1"}  # a new category, not C, not taken
    assert profiles["u4"].familiar == ["A"]  # built without the dev target


def test_the_collaborative_intervention_lends_a_similar_users_serendipitous_item():
    config = SeralConfig.from_dict({"pairs": {"heldout_share": 0}})
    pairs, _ = build_pairs(tiny_dataset(), config)
    borrowed = [p for p in pairs if p.kind == "collaborative"]
    # donor u4 (touched {A}, found C); users to whom C is new and who share a category with u4: u1, u2, u5, u6
    # (u3 already has C; u4 is the donor itself)
    assert sorted(p.user_id for p in borrowed) == ["u1", "u2", "u5", "u6"]
    assert all(p.donor == "u4" and p.chosen_item == "c2" and p.rejected_item in {"b1", "b2", "d1"} for p in borrowed)
    assert build_pairs(tiny_dataset(), config)[0] == pairs  # seeded
    off = SeralConfig.from_dict({"pairs": {"collaborative_users": 0}})
    assert not [p for p in build_pairs(tiny_dataset(), off)[0] if p.kind == "collaborative"]


def test_every_pair_becomes_two_judge_rows_with_opposite_preferred_verdicts(tmp_path):
    dataset = tiny_dataset()
    config = SeralConfig.from_dict({"pairs": {"heldout_share": 0}})
    pairs, profiles = build_pairs(dataset, config)
    rows = dpo_rows(pairs, profiles, lambda profile, item: f"{profile.user_id} {item}",
                    item_categories(dataset.items))
    assert len(rows) == 2 * len(pairs)
    first, second = rows[0], rows[1]
    assert first["prompt"][0]["content"] == f"{pairs[0].user_id} {pairs[0].chosen_item}"
    assert json.loads(first["chosen"][0]["content"])["verdict"] == "yes"
    assert json.loads(first["rejected"][0]["content"])["verdict"] == "no"
    assert second["prompt"][0]["content"].endswith(pairs[0].rejected_item)
    assert json.loads(second["chosen"][0]["content"])["verdict"] == "no"
    assert dpo_rows(pairs, profiles, lambda p, i: i, {}, split="heldout") == []
    path = write_records(tmp_path / "pairs.parquet", pairs, PreferencePair)
    assert read_records(path, PreferencePair) == pairs


def test_the_pairs_command_writes_the_pairs_and_their_counts(tmp_path):
    from typer.testing import CliRunner

    from recgpt.cli.main import app
    from recgpt.data.store import save_dataset
    from recgpt.runfolder import RunFolder

    run = RunFolder(tmp_path / "run")
    save_dataset(tiny_dataset(), run.data)
    result = CliRunner().invoke(app, ["seral", "pairs", "--run", str(run.root), "--set", "pairs.heldout_share=0"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output.strip().splitlines()[-1])
    assert counts["by_kind"] == {"new-not-taken": 1, "familiar": 1, "collaborative": 4}
    assert len(read_records(run.seral_pairs, PreferencePair)) == 6


def test_human_labels_of_the_serendipity_task_become_pairs(tmp_path):
    from recgpt.data.store import save_dataset
    from recgpt.judge.buffer import JudgeBuffer, Verdict
    from recgpt.judge.items import load_items
    from recgpt.runfolder import RunFolder
    from recgpt.seral.runner import evaluate_offline

    dataset = tiny_dataset()
    run = RunFolder(tmp_path / "run")
    save_dataset(dataset, run.data)
    config = SeralConfig.from_dict({"candidates": {"size": 3}, "pairs": {"heldout_share": 0,
                                                                          "collaborative_users": 0}})
    evaluate_offline(run, dataset, config, ["random.v1"])
    items = load_items(run, ["serendipity"])
    assert {i.extra["user_id"] for i in items} == {"u1"} and len(items) == 3
    assert items[0].context["Stable interests"] == "A" and items[0].output["category"] in {"B", "C", "D"}
    target = next(i for i in items if i.extra["item_id"] == "b1")
    other = next(i for i in items if i.extra["item_id"] != "b1")
    unlabelled = next(i for i in items if i not in (target, other))

    def verdict(item, criterion, passed, round=1):
        return Verdict("serendipity", item.item_key, criterion, "yes" if passed else "no", passed, "human", "ann",
                       "v1", round)

    buffer = JudgeBuffer(run.judge_buffer)
    buffer.add([verdict(target, "unexpectedness", True), verdict(target, "relevance", True),
                verdict(other, "unexpectedness", True), verdict(other, "relevance", True),
                verdict(other, "relevance", False, round=2),  # a later round changed its mind
                verdict(unlabelled, "relevance", True)])  # one criterion only: left out
    buffer.close()
    pairs, profiles = build_pairs(dataset, config, run.judge_buffer)
    human = [(p.user_id, p.chosen_item, p.rejected_item) for p in pairs if p.kind == "human"]
    assert human == [("u1", "b1", other.extra["item_id"])]
    assert "u1" in profiles
