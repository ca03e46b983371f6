"""`recgpt train-retriever`, `evaluate-retrievers` and `recommend` on the planted fixture."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from recgpt.cli.main import app
from recgpt.data.store import save_dataset
from recgpt.retrieval.synthetic import planted_dataset

SETTINGS = ["dim=16", "emb_dim=8", "hidden=32", "max_len=10", "epochs=30", "batch_size=16", "n_negatives=40",
            "threads=1", "dropout=0.0", "lr=0.01", "eval_every=5", "tag_encoder=scratch"]


def test_train_evaluate_and_recommend(tmp_path):
    save_dataset(planted_dataset(), tmp_path / "data")
    runner = CliRunner()
    args = ["train-retriever", "--run", str(tmp_path), "--index", "hnsw", "--index-option", "ef_search=32"]
    for s in SETTINGS:
        args += ["--set", s]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "retriever" / "model.json").exists() and (tmp_path / "retriever" / "index").is_dir()
    assert json.loads((tmp_path / "retriever" / "model.json").read_text())["registry"] == "tar.v1"
    assert json.loads((tmp_path / "retriever" / "index" / "index.json").read_text())["options"]["ef_search"] == 32

    result = runner.invoke(app, ["evaluate-retrievers", "--run", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "retriever" / "metrics_test.json").read_text())
    recall = {r["method"]: r["value"] for r in rows if r["metric"] == "recall" and r["k"] == 10}
    assert recall["tar beta=1"] > recall["popular"]
    assert "tar beta=0" in recall
    tuned = sorted(m.split(" (")[0] for m in recall if m.endswith(", tuned on dev)"))
    assert tuned == ["ease", "itemknn"]  # baselines tuned on dev, their chosen options in the label

    result = runner.invoke(app, ["recommend", "--run", str(tmp_path), "--user", "u2_0", "--k", "3"])
    assert result.exit_code == 0, result.output
    assert "emerald" in result.output  # the user's cluster
    result = runner.invoke(app, ["recommend", "--run", str(tmp_path), "--user", "nobody"])
    assert result.exit_code == 2 and "user 'nobody' is not in the run's data" in result.output
    assert "Traceback" not in result.output

    result = runner.invoke(app, ["train-retriever", "--run", str(tmp_path), "--set", "no_such_key=1"])
    assert result.exit_code == 2 and "no_such_key" in result.output
    result = runner.invoke(app, ["train-retriever", "--run", str(tmp_path), "--index", "ivf", "--index-option", "nprob=4"])
    assert result.exit_code == 2 and "nprob" in result.output
