"""IPO on the real embedded model: a few steps of trl's DPO trainer (loss_type ipo) with LoRA lower the loss on
the pairs it trains on (from (1 / (2 beta))**2, the loss while the policy equals the reference)."""

from __future__ import annotations

import json

import pytest
from seral_helpers import tiny_dataset

pytest.importorskip("trl")

from recgpt.seral.config import IPOConfig, SeralConfig  # noqa: E402
from recgpt.seral.pairs import build_pairs, dpo_rows  # noqa: E402
from recgpt.seral.truth import item_categories  # noqa: E402


def test_a_few_ipo_steps_lower_the_loss_on_their_pairs(tmp_path):
    from recgpt.seral.ipo import train_ipo

    dataset = tiny_dataset()
    config = SeralConfig.from_dict({"pairs": {"heldout_share": 0, "collaborative_users": 0}})
    pairs, profiles = build_pairs(dataset, config)
    category = item_categories(dataset.items)
    rows = dpo_rows(pairs[:1], profiles, lambda p, item: f"Profile: {', '.join(p.long_term)}. Item: {item} "
                    f"({category[item]}). Serendipitous?", category)
    ipo = IPOConfig(steps=2, batch_size=2, lr=3e-3, lora_r=4, lora_alpha=8, max_length=128, bf16=False)
    result = train_ipo(rows, tmp_path / "ipo", ipo)
    metrics = result.manifest["metrics"]
    assert metrics["loss_before"]["train"] == pytest.approx((1 / (2 * ipo.beta)) ** 2, rel=1e-3)
    assert metrics["loss_after"]["train"] < metrics["loss_before"]["train"] - 1.0
    assert (result.folder / "adapter_config.json").exists() and metrics["steps"] == 2
    assert json.loads((tmp_path / "ipo" / "manifest.json").read_text())["loss"] == "ipo"
    again = train_ipo(rows, tmp_path / "ipo", ipo)  # same rows and configuration: the finished folder
    assert again.manifest == result.manifest


def test_a_killed_ipo_training_resumes_from_its_last_checkpoint(tmp_path):
    from recgpt.seral.ipo import train_ipo

    dataset = tiny_dataset()
    config = SeralConfig.from_dict({"pairs": {"heldout_share": 0, "collaborative_users": 0}})
    pairs, profiles = build_pairs(dataset, config)
    category = item_categories(dataset.items)
    rows = dpo_rows(pairs[:1], profiles, lambda p, item: f"Item {item} ({category[item]}) for {p.long_term}?", category)
    ipo = IPOConfig(steps=2, batch_size=2, lr=3e-3, lora_r=4, lora_alpha=8, max_length=96, bf16=False,
                    heldout_rows=0, checkpoint_every=1)

    class Killed(Exception):
        pass

    def kill_at_step_two(task, done, total=None, **info):
        if done >= 2:
            raise Killed

    with pytest.raises(Killed):
        train_ipo(rows, tmp_path / "ipo", ipo, progress=kill_at_step_two)
    assert not (tmp_path / "ipo" / "manifest.json").exists()
    assert (tmp_path / "ipo" / "checkpoints" / "checkpoint-1").is_dir()
    steps_seen = []
    result = train_ipo(rows, tmp_path / "ipo", ipo, progress=lambda task, done, total=None, **i: steps_seen.append(done))
    metrics = result.manifest["metrics"]
    assert metrics["resumed_from_step"] == 1 and metrics["steps"] == 2
    # a fresh training reports step 1 twice (its end, its log); the resumed one only once, as its start
    assert steps_seen.count(1) == 1 and steps_seen[-1] == 2
    assert not (tmp_path / "ipo" / "checkpoints").exists()
