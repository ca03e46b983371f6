"""Serendipity ground truth and cognition profiles on a tiny log with known answers."""

from __future__ import annotations

import pytest
from seral_helpers import tiny_dataset

from recgpt.config import ConfigError, load_block
from recgpt.seral.config import SeralConfig
from recgpt.seral.profiles import build_profiles
from recgpt.seral.records import CognitionProfile, SerendipityLabel, read_records, write_records
from recgpt.seral.truth import item_categories, label_targets, share


def test_a_next_item_is_serendipitous_exactly_when_its_category_was_never_touched():
    labels = {lab.user_id: lab for lab in label_targets(tiny_dataset(), "test", "category")}
    assert sorted(labels) == ["u1", "u2", "u3", "u4", "u5"]
    assert {u for u, lab in labels.items() if lab.serendipitous} == {"u1"}
    assert (labels["u4"].history_items, labels["u4"].history_categories) == (2, 2)  # a1 + the dev target c2
    assert share(list(labels.values())) == {"users": 5, "serendipitous": 1, "share": 0.2}


def test_the_granularity_and_the_fold_change_the_answer():
    leaf = {lab.user_id for lab in label_targets(tiny_dataset(), "test", "leaf") if lab.serendipitous}
    assert leaf == {"u1", "u2", "u5"}
    dev = label_targets(tiny_dataset(), "dev", "category")
    assert [(lab.user_id, lab.item_id, lab.serendipitous) for lab in dev] == [("u4", "c2", True)]
    clicks_only = label_targets(tiny_dataset(), "test", "category", behaviors=["click"])
    assert clicks_only == []  # no user has a click history, so nothing is labelled


def test_leaf_categories_never_merge_across_categories():
    category = item_categories(tiny_dataset().items, "leaf")
    assert category["a1"] == "A > x" and category["a2"] == "A > y" and category["b1"] == "B"
    with pytest.raises(ConfigError, match="unknown granularity"):
        item_categories(tiny_dataset().items, "brand")


def test_profiles_have_stable_recent_and_neighbouring_never_touched_categories(tmp_path):
    dataset = tiny_dataset()
    profiles = {p.user_id: p for p in build_profiles(dataset, "test", item_categories(dataset.items),
                                                     SeralConfig().profile)}
    u1, u3 = profiles["u1"], profiles["u3"]
    assert u1.long_term == ["A"] and u1.recent == ["A"] and u1.familiar == ["A"]
    # sim(A, B) = 2 / sqrt(5 * 3) beats sim(A, C) = 1 / sqrt(5 * 2); D co-occurs with nothing
    assert u1.neighbours == ["B", "C"]
    assert u3.neighbours == ["A"] and u3.recent == ["C", "B"] and u3.recent_titles == ["item c1", "item b2"]
    assert len({p.version for p in profiles.values()}) == len(profiles)
    path = write_records(tmp_path / "profiles.parquet", list(profiles.values()), CognitionProfile)
    again = read_records(path, CognitionProfile)
    assert again == list(profiles.values())  # the version survives the round trip unchanged
    labels = label_targets(dataset, "test")
    assert read_records(write_records(tmp_path / "t.parquet", labels, SerendipityLabel), SerendipityLabel) == labels


def test_the_config_block_rejects_unknown_keys_and_a_quota_bigger_than_the_list(tmp_path):
    path = tmp_path / "seral.yaml"
    path.write_text("seral:\n  granularity: leaf\n  channel: {quota: 3, list_size: 20}\n")
    config = load_block(SeralConfig, path, "seral")
    assert config.granularity == "leaf" and config.channel.quota == 3
    path.write_text("seral:\n  granularty: leaf\n")
    with pytest.raises(ConfigError, match="granularty: unknown key"):
        load_block(SeralConfig, path, "seral")
    with pytest.raises(ConfigError, match="quota=3 is more than list_size=2"):
        load_block(SeralConfig, None, "seral", settings=["channel.quota=3", "channel.list_size=2"])
    with pytest.raises(ConfigError, match="unknown behaviors"):
        load_block(SeralConfig, None, "seral", settings=["behaviors=[clik]"])


def test_the_cli_labels_profiles_and_evaluates_a_run(tmp_path):
    from typer.testing import CliRunner

    from recgpt.cli.main import app
    from recgpt.data.store import save_dataset
    from recgpt.runfolder import RunFolder

    run = RunFolder(tmp_path / "run")
    save_dataset(tiny_dataset(), run.data)
    cli = CliRunner()
    result = cli.invoke(app, ["seral", "truth", "--run", str(run.root), "--set", "granularity=leaf"])
    assert result.exit_code == 0, result.output
    import json as _json

    assert _json.loads(result.output.strip().splitlines()[-1])["share"] == 0.6
    assert run.seral_truth.exists()
    result = cli.invoke(app, ["seral", "profiles", "--run", str(run.root)])
    assert result.exit_code == 0 and "6 profiles" in result.output, result.output
    result = cli.invoke(app, ["seral", "evaluate", "--run", str(run.root), "--scorer", "nope.v1"])
    assert result.exit_code != 0 and "unknown seral scorer 'nope.v1'" in result.output
    result = cli.invoke(app, ["seral", "truth", "--run", str(run.root), "--set", "channel.base=nope"])
    assert result.exit_code == 2 and "unknown retriever 'nope'" in result.output


def test_serengpt_keeps_the_torch_engine_when_only_its_options_are_set():
    config = load_block(SeralConfig, None, "seral", settings=["serengpt.llm.options.torch.batch_size=8"])
    assert config.serengpt.llm.backend == "torch" and config.serengpt.llm.options["torch"]["batch_size"] == 8
    assert SeralConfig().serengpt.llm.backend == "torch"
    named = load_block(SeralConfig, None, "seral", settings=["serengpt.llm.backend=fake"])
    assert named.serengpt.llm.backend == "fake"
