"""``recgpt tune-retriever``: an Optuna search of the TAR's settings on dev within a time budget, trial 0 = the
configured retriever, the best kept and saved with a record of what was searched and chosen."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from recgpt.cli.main import app
from recgpt.data.store import save_dataset
from recgpt.retrieval.config import RetrieverSearchConfig, SearchDimension, TARConfig
from recgpt.retrieval.synthetic import PLANTED_TAR_SETTINGS

pytest.importorskip("optuna")
SMALL = {**PLANTED_TAR_SETTINGS, "epochs": 6, "eval_every": 1}


def test_the_search_keeps_the_best_trial_and_never_falls_below_trial_zero(planted):
    from recgpt.retrieval.metrics import recall_at_k
    from recgpt.retrieval.evaluate import holdout_targets
    from recgpt.retrieval.search import search_retriever

    space = {"lr": SearchDimension(low=1e-4, high=3e-2, log=True), "dim": SearchDimension(choices=[8, 16])}
    base = TARConfig(**{**SMALL, "lr": 1e-4})  # a weak base: a better trial should be found
    result = search_retriever(planted, base, RetrieverSearchConfig(trials=4, space=space, startup_trials=1))
    summary = result.summary()
    assert summary["trials"][0]["settings"] == {"lr": 1e-4, "dim": 16}  # trial 0 = the configured retriever
    finished = [t["dev"] for t in summary["trials"] if t["state"] == "complete"]
    assert result.best_dev == max(finished) >= result.base_dev
    assert set(result.chosen()) == {"lr", "dim"} and result.config.lr == result.chosen()["lr"]
    users, targets = holdout_targets(planted, "dev", result.model.catalog)
    result.model.use_history(planted, "dev")
    ranked = result.model.recommend(users, 20, beta=1.0).item_index
    assert recall_at_k(ranked, targets, 20) == pytest.approx(result.best_dev, abs=1e-6)  # the kept model is that trial


def test_no_trial_starts_after_the_time_budget(planted):
    from recgpt.retrieval.search import search_retriever

    result = search_retriever(planted, TARConfig(**SMALL), RetrieverSearchConfig(trials=5, time_budget_s=0.01))
    assert len(result.trials) == 1 and result.trials[0]["state"] == "complete"  # trial 0 always finishes


def test_search_space_keys_are_checked():
    with pytest.raises(ValueError, match="nope is not a retriever setting"):
        RetrieverSearchConfig(space={"nope": SearchDimension(choices=[1])})
    with pytest.raises(ValueError, match="either low and high, or choices"):
        SearchDimension(low=1.0)


def test_tune_retriever_command_saves_the_model_and_the_record(planted, tmp_path):
    save_dataset(planted, tmp_path / "data")
    args = ["tune-retriever", "--run", str(tmp_path), "--trials", "2", "--search", "space={lr: {low: 0.001, high: 0.02}}"]
    for key, value in SMALL.items():
        args += ["--set", f"{key}={value}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "retriever" / "search.json").read_text())
    assert list(record["space"]) == ["lr"] and len(record["trials"]) == 2 and "chosen" in record
    assert (tmp_path / "retriever" / "model.json").exists() and "dev recall@20" in result.output
    bad = CliRunner().invoke(app, ["tune-retriever", "--run", str(tmp_path), "--search", "trials=0"])
    assert bad.exit_code == 2


def test_the_report_says_what_was_searched_and_chosen():
    from recgpt.pipeline.report import search_blocks

    summary = {"objective": "best dev recall@20 at beta=1", "space": {"lr": {"low": 0.0003, "high": 0.003, "log": True},
               "dim": {"choices": [32, 64]}}, "chosen": {"lr": 0.002, "dim": 32}, "base_dev_recall": 0.20,
               "best_dev_recall": 0.21, "seconds": 100.0, "time_budget_s": 600.0, "pruned": 1, "complete": 2,
               "trials": [{"number": 0, "settings": {"lr": 0.001, "dim": 64}, "state": "complete", "dev": 0.2},
                          {"number": 1, "settings": {"lr": 0.002, "dim": 32}, "state": "complete", "dev": 0.21},
                          {"number": 2, "settings": {"lr": 0.0004, "dim": 64}, "state": "pruned", "dev": 0.05}]}
    heading, text, settings, trials = search_blocks(summary)
    assert settings.rows == [["lr", "[0.0003, 0.003] log", "0.001", "0.002"], ["dim", "{32, 64}", "64", "32"]]
    assert "2 trials finished and 1 pruned" in text.text and "kept: dev 0.2100" in text.text
    assert [r[1] for r in trials.rows] == ["complete", "complete", "pruned"]


def test_recgpt_run_tune_retriever_keeps_the_search_in_the_retriever_stage(tmp_path, repo_root):
    from recgpt.data.config import DataConfig
    from recgpt.pipeline.config import PipelineConfig
    from recgpt.pipeline.engine import StageRunner
    from recgpt.pipeline.runner import build_stages

    mapping = repo_root / "examples" / "custom" / "mapping.yaml"
    cfg = PipelineConfig(data=DataConfig(source="custom", path=str(mapping)), retriever=TARConfig(**SMALL),
                         retriever_search=RetrieverSearchConfig(enabled=True, trials=2,
                                                                space={"dropout": SearchDimension(low=0.1, high=0.5)}))
    stages = [s for s in build_stages() if s.name in ("data", "retriever")]
    outcomes = StageRunner(stages, tmp_path, cfg).run()
    assert [o.status for o in outcomes] == ["ran", "ran"] and outcomes[1].summary["trials"] == 2
    record = json.loads((tmp_path / "retriever" / "search.json").read_text())
    assert record["trials"][0]["settings"] == {"dropout": SMALL.get("dropout", TARConfig().dropout)}
    off = cfg.model_copy(update={"retriever_search": RetrieverSearchConfig()})
    StageRunner(stages, tmp_path, off).run()  # searching switched off: a plain training, no stale record
    assert not (tmp_path / "retriever" / "search.json").exists()


def test_tune_retriever_reads_a_pipeline_yaml_without_a_search_block(planted, tmp_path):
    import yaml

    save_dataset(planted, tmp_path / "data")
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({"name": "planted", "retriever": SMALL, "evaluation": {"classic": "itemknn"}}))
    result = CliRunner().invoke(app, ["tune-retriever", "--run", str(tmp_path), "--config", str(config),
                                      "--trials", "1"])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "retriever" / "search.json").read_text())
    assert set(record["space"]) == set(RetrieverSearchConfig().space)  # the default space
