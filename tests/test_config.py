"""Configuration: one loader for every command, strict keys, light imports, no silent overrides."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recgpt.config import ConfigError, load_block
from recgpt.pipeline.config import PipelineConfig, load_config
from recgpt.retrieval.config import TARConfig

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "faiss", "sentence_transformers", "llama_cpp", "openai", "sklearn", "polars", "ray")


def test_reading_every_configuration_imports_nothing_heavy():
    """Reading and validating the bundled configurations (and every area's config module) loads no model
    library: a configuration error shows in a fraction of a second."""
    code = f"""
import json, sys
from recgpt.pipeline.config import load_config
import recgpt.judge.config, recgpt.data.config, recgpt.behavior.config, recgpt.stages.config, recgpt.retrieval.config
import recgpt.executors.config, recgpt.seral.config
for path in ("configs/amazon-office.yaml", "configs/taobao.yaml"):
    load_config(path)
load_config(None, {{"executor.name": "ray", "executor.address": "auto"}})
print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_a_block_comes_from_its_key_or_from_a_whole_file_of_it(tmp_path):
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text("retriever: {epochs: 7}\nevaluation: {sample_users: 3}\n")
    single = tmp_path / "tar.yaml"
    single.write_text("epochs: 9\ndim: 32\n")
    others = tmp_path / "stages.yaml"
    others.write_text("tags: {max_tokens: 64}\n")
    assert load_block(TARConfig, pipeline, "retriever").epochs == 7
    assert load_block(TARConfig, single, "retriever").dim == 32
    assert load_block(TARConfig, others, "retriever") == TARConfig()  # a file of other blocks
    loaded = load_block(TARConfig, single, "retriever", {"epochs": None, "lr": 0.01}, ["dim=16", "n_layers=1"])
    assert (loaded.epochs, loaded.lr, loaded.dim, loaded.n_layers) == (9, 0.01, 16, 1)
    typo = tmp_path / "typo.yaml"
    typo.write_text("epochz: 5\n")
    with pytest.raises(ConfigError, match="typo.yaml: invalid configuration\n  epochz: unknown key"):
        load_block(TARConfig, typo, "retriever")
    with pytest.raises(ConfigError, match="--set expects KEY=VALUE"):
        load_block(TARConfig, None, "retriever", settings=["dim"])


def test_a_stage_sample_that_contradicts_the_evaluation_sample_is_an_error_naming_both():
    with pytest.raises(ConfigError, match="tags.sample_users=5 conflicts with evaluation.sample_users=8"):
        PipelineConfig.from_dict({"tags": {"sample_users": 5}, "evaluation": {"sample_users": 8}})
    config = PipelineConfig.from_dict({"tags": {"sample_users": 8, "fold": "test"}, "evaluation": {"sample_users": 8}})
    assert config.interests.sample_users == config.tags.sample_users == 8
    assert config.interests.fold == "test" and "sample_users" not in config.interests.model_fields_set


def test_the_written_configuration_reads_back_with_another_sample(tmp_path):
    config = load_config(ROOT / "configs" / "amazon-office.yaml")
    path = tmp_path / "config.yaml"
    path.write_text(config.to_yaml())
    again = load_config(path, {"evaluation.sample_users": 20})
    assert again.interests.sample_users == 20 and again.retriever == config.retriever


def test_set_flags_change_any_key_after_the_file_and_a_misspelt_one_is_an_error():
    config = load_config(ROOT / "configs" / "amazon-office.yaml", {"evaluation.sample_users": 4},
                         ["alignment.incremental.max_users=600", "alignment.trainer.epochs=2",
                          "alignment.enabled=false"])
    assert config.alignment.incremental.max_users == 600 and config.alignment.trainer.epochs == 2.0
    assert config.evaluation.sample_users == 4 and not config.alignment.enabled
    shipped = load_config(ROOT / "configs" / "amazon-office.yaml").alignment  # make demo ALIGN_USERS=0 turns it off
    assert shipped.enabled and shipped.incremental.max_users <= 32 and shipped.trainer.epochs <= 1
    with pytest.raises(ConfigError, match="max_user"):
        load_config(ROOT / "configs" / "amazon-office.yaml", settings=["alignment.incremental.max_user=600"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(None, settings=["alignment.enabled"])
