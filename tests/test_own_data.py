"""A user's own data set with its own split: holdout rows that leak into the events, the split made by
``recgpt data load`` (the same code as ``recgpt run``), and the data stage noticing an edited data file."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from recgpt.cli.main import app
from recgpt.data.config import DataConfig
from recgpt.data.loaders import LoadError, SkipReport, load_custom
from recgpt.pipeline.config import PipelineConfig
from recgpt.pipeline.engine import StageRunner
from recgpt.pipeline.runner import build_stages
from recgpt.runfolder import RunFolder

ITEMS = "item_id,title,category\na,Alpha,x\nb,Beta,y\nc,Gamma,x\nd,Delta,y\n"
EVENTS = ["u1,a,purchase,100", "u1,b,purchase,200", "u2,a,purchase,100", "u2,c,purchase,300"]
HOLDOUT = ["u1,c,purchase,300,dev", "u1,d,purchase,400,test", "u2,d,purchase,400,test"]


def write(folder: Path, holdout=HOLDOUT, on_error="raise", events=EVENTS) -> Path:
    (folder / "items.csv").write_text(ITEMS)
    (folder / "events.csv").write_text("user_id,item_id,behavior,timestamp\n" + "\n".join(events) + "\n")
    mapping = {"on_error": on_error, "items": {"file": "items.csv"}, "events": {"file": "events.csv"}}
    if holdout is not None:
        (folder / "holdout.csv").write_text("user_id,item_id,behavior,timestamp,fold\n" + "\n".join(holdout) + "\n")
        mapping["holdout"] = {"file": "holdout.csv"}
    path = folder / "mapping.yaml"
    path.write_text(yaml.safe_dump(mapping))
    return path


def test_own_holdout_loads_and_test_history_adds_the_dev_target(tmp_path):
    ds = load_custom(write(tmp_path))
    assert ds.holdout.num_rows == 3
    u1_test = [r["item_id"] for r in ds.history("test").to_pylist() if r["user_id"] == "u1"]
    assert u1_test == ["a", "b", "c"]  # events + the dev target, in time order


def test_a_holdout_row_also_in_the_events_is_an_error_naming_it(tmp_path):
    leaking = HOLDOUT + ["u2,c,purchase,300,dev"]  # u2 already bought c in the events
    with pytest.raises(LoadError, match=r"user 'u2', item 'c'.*leak into its own history") as info:
        load_custom(write(tmp_path, leaking))
    assert info.value.file.endswith("holdout.csv") and info.value.line == 5


def test_with_skip_the_leaking_holdout_row_is_dropped_and_counted(tmp_path):
    report = SkipReport()
    ds = load_custom(write(tmp_path, HOLDOUT + ["u2,c,purchase,300,dev"], on_error="skip"), report)
    assert report.total == 1 and "holdout row also in the events" in report.lines()[0]
    assert sorted((r["user_id"], r["fold"]) for r in ds.holdout.to_pylist()) == [
        ("u1", "dev"), ("u1", "test"), ("u2", "test")]


def test_data_load_split_loo_makes_the_split_the_run_makes(tmp_path):
    events = EVENTS + ["u1,c,purchase,300", "u1,d,purchase,400", "u2,b,purchase,500"]
    mapping = write(tmp_path, holdout=None, events=events)
    runner = CliRunner()
    outs = {}
    for split in ("source", "loo"):
        out = tmp_path / split
        result = runner.invoke(app, ["data", "load", "--source", "custom", "--path", str(mapping), "--out",
                                     str(out), "--split", split])
        assert result.exit_code == 0, result.output
        outs[split] = pq.read_table(RunFolder(out).data / "holdout.parquet")
    assert outs["source"].num_rows == 0
    # the pipeline's data stage on the same source
    run = tmp_path / "run"
    cfg = PipelineConfig(data=DataConfig(source="custom", path=str(mapping)))
    StageRunner(build_stages()[:1], run, cfg).run()
    made = pq.read_table(RunFolder(run).data / "holdout.parquet")
    assert made.num_rows == 4  # test + dev for both users
    assert sorted(outs["loo"].to_pylist(), key=str) == sorted(made.to_pylist(), key=str)
    result = runner.invoke(app, ["data", "load", "--source", "custom", "--path", str(mapping), "--out",
                                 str(tmp_path / "x"), "--split", "random"])
    assert result.exit_code == 2 and "unknown split 'random'" in result.output


def test_editing_a_data_file_reruns_the_data_stage(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    mapping = write(data)
    cfg = PipelineConfig(data=DataConfig(source="custom", path=str(mapping)))
    run = tmp_path / "run"
    stages = build_stages()[:1]
    assert [o.status for o in StageRunner(stages, run, cfg).run()] == ["ran"]
    assert [o.status for o in StageRunner(stages, run, cfg).run()] == ["skipped"]
    (data / "events.csv").write_text("user_id,item_id,behavior,timestamp\n" + "\n".join(EVENTS[:3]) + "\n")
    assert [o.status for o in StageRunner(stages, run, cfg).run()] == ["ran"]
    assert pq.read_table(RunFolder(run).data / "events.parquet").num_rows == 3


def test_the_default_run_folder_comes_from_the_configuration_name(tmp_path):
    from recgpt.pipeline.config import load_config

    paths = []
    for folder, name in (("a", "shop A"), ("b", "shop/B")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "config.yaml").write_text(f"name: {name}\n")
        paths.append(load_config(tmp_path / folder / "config.yaml").default_run_dir())
    assert paths == [Path("runs/shop-A"), Path("runs/shop-B")]


def test_the_report_puts_users_without_llm_tags_apart_and_counts_users_per_row(tmp_path):
    import numpy as np

    from recgpt.pipeline.artifacts import METHODS, write_json
    from recgpt.retrieval.evaluate import method_metrics
    from recgpt.pipeline.report import build_report

    run = RunFolder(tmp_path).ensure()
    rng = np.random.default_rng(0)
    category, popularity = np.arange(30) % 3, rng.integers(0, 9, 30)

    def block(n):
        targets = rng.integers(0, 30, n)
        ranked = np.stack([rng.permutation(30)[:10] for _ in range(n)])
        return {"users": n, "methods": {m: method_metrics(ranked, targets, category, popularity, [10])
                                        for m in METHODS}}

    write_json(run.metrics, {"dataset": "toy", "ks": [10], "k_main": 10, "seed": 0, "classic_name": "ease",
                             "classic_options": "l2=500", "classic_tuned": True, "beta_tuned": 0.5,
                             "sample": block(3), "sample_title_tags": block(5), "all_users": block(40)})
    md = build_report(tmp_path)[0].read_text()
    assert "the 3 sampled users with LLM tags" in md and "The 5 sampled users without LLM tags" in md
    assert "TAR fused, item-title tags" in md and "TAR tags-only (beta=0), item-title tags" in md
    assert "Classic baseline (ease, l2=500 tuned on dev, refit on train + dev)" in md
    table = md[md.index("| method | users |"):]
    assert "| 3 |" in table and "| 5 |" in table and "| 40 |" in table


def test_beta_smallest_within_tolerance_and_the_dev_curve_in_the_report(tmp_path):
    from recgpt.pipeline.report import beta_blocks
    from recgpt.retrieval.quality import choose_beta

    curve = [{"beta": b, "recall": r, "categories": c, "long_tail": t} for b, r, c, t in
             ((0.0, 0.10, 2.0, 0.6), (0.5, 0.1985, 4.0, 0.4), (0.75, 0.1995, 5.0, 0.35), (1.0, 0.200, 7.0, 0.3))]
    assert choose_beta(curve, "best") == 1.0
    assert choose_beta(curve, "smallest_within", 0.01) == 0.5  # 0.1985 >= 0.99 x 0.200
    assert choose_beta(curve, "smallest_within", 0.003) == 0.75  # 0.1985 < 0.997 x 0.200 <= 0.1995
    assert choose_beta(curve, "smallest_within", 0.0) == 1.0
    table = beta_blocks({"beta_metric": "recall@20", "beta_criterion": "smallest_within", "beta_tolerance": 0.01,
                         "beta_tuned": 0.5, "beta_curve": curve})[0]
    assert table.header == ["beta", "dev recall@20", "dev categories@20", "dev long tail@20"]
    assert table.rows[1] == ["0.5", "0.1985", "4.00", "0.400"] and "within 1% of the best" in table.caption


def test_beta_curve_on_a_trained_retriever_matches_its_recall(planted):
    from recgpt.retrieval.base import create
    from recgpt.retrieval.config import TARConfig
    from recgpt.retrieval.quality import beta_curve, tune_beta
    from recgpt.retrieval.synthetic import PLANTED_TAR_SETTINGS

    model = create("tar", config=TARConfig(**{**PLANTED_TAR_SETTINGS, "epochs": 5})).fit(planted, "dev")
    curve = beta_curve(model, planted, (0.0, 1.0), k=5)
    assert [c["beta"] for c in curve] == [0.0, 1.0]
    assert all(0 <= c["long_tail"] <= 1 and 1 <= c["categories"] <= 5 for c in curve)
    beta, scores = tune_beta(model, planted, (0.0, 1.0), k=5, criterion="smallest_within", tolerance=1.0)
    assert beta == 0.0 and scores == {c["beta"]: c["recall"] for c in curve}
