"""Baselines that scale and are tuned: sparse item-kNN built in blocks (the same lists as the dense form), EASE
on the most popular items, the memory estimate that stops a run up front, dev-grid tuning with a refit on
train + dev."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recgpt.data.config import DataConfig
from recgpt.pipeline.config import EvaluationConfig, PipelineConfig
from recgpt.pipeline.engine import StageRunner
from recgpt.pipeline.runner import build_stages
from recgpt.retrieval.base import create
from recgpt.retrieval.memory import GB, MemoryBudgetError, check_fits, estimate_bytes
from recgpt.retrieval.quality import baseline_rows
from recgpt.retrieval.tuning import fit_for_test, tune_baseline


def dense_knn(x: sp.csr_matrix, neighbors: int, shrink: float) -> np.ndarray:
    """The former dense item-kNN, as the reference."""
    co = (x.T @ x).toarray().astype(np.float32)
    norms = np.sqrt(np.diag(co).copy())
    sim = co / (np.outer(norms, norms) + shrink + 1e-9)
    np.fill_diagonal(sim, 0.0)
    cut = np.argpartition(-sim, neighbors - 1, axis=0)[neighbors:, :]
    np.put_along_axis(sim, cut, 0.0, axis=0)
    return sim


@pytest.mark.parametrize("block", [7, 64, 4096])
def test_blocked_sparse_item_knn_equals_the_dense_form(planted, block):
    model = create("itemknn", neighbors=5, shrink=3.0, block=block).fit(planted, "test")
    reference = dense_knn(model.train.matrix(len(model.catalog)), 5, 3.0)
    np.testing.assert_allclose(model._sim.toarray(), reference, rtol=1e-6, atol=1e-7)
    assert model._sim.nnz <= 5 * len(model.catalog)


def test_sparse_item_knn_saves_and_loads(planted, tmp_path):
    from recgpt.retrieval.saved import load_model

    model = create("itemknn", neighbors=5).fit(planted, "test")
    model.save(tmp_path / "m")
    again = load_model(tmp_path / "m")
    users = ["u0_1", "u2_3"]
    assert (again.recommend(users, 10).item_ids == model.recommend(users, 10).item_ids).all()


def test_ease_on_the_most_popular_items_only_ranks_them_first(planted):
    full = create("ease", l2=10.0).fit(planted, "test")
    cut = create("ease", l2=10.0, max_items=12).fit(planted, "test")
    kept = set(np.argsort(-full.popularity, kind="stable")[:12].tolist())
    assert set(cut._kept.tolist()) == kept and cut._b.shape == (12, 12)
    recs = cut.recommend(["u0_0", "u3_2"], k=20)
    for row in recs.item_index:
        in_kept = [int(i) in kept for i in row if i >= 0]
        # every kept item (not in the history) comes before any other item
        assert in_kept == sorted(in_kept, reverse=True) and not all(in_kept)
    assert (create("ease", l2=10.0, max_items=1000).fit(planted, "test").recommend(["u1_1"], 10).item_ids
            == full.recommend(["u1_1"], 10).item_ids).all()


def test_memory_estimate_matches_the_issue_and_names_a_scalable_alternative():
    n = 75_384  # the Taobao UserBehavior sample's catalog
    assert estimate_bytes("ease", n) > 100 * GB  # Gram + inverse + B: far beyond a 24 GiB machine
    assert estimate_bytes("itemknn", n, {"neighbors": 200}) < 4 * GB  # sparse, in blocks: fits easily
    with pytest.raises(MemoryBudgetError, match=r"'ease' on 75,384 items needs about .* GB.*itemknn.*max_items: ") as info:
        check_fits("ease", n, {}, budget_gb=24)
    m = int(str(info.value).split("max_items: ")[1].split("`")[0])
    assert 1000 < m < n and estimate_bytes("ease", n, {"max_items": m}) <= 24 * GB
    check_fits("itemknn", n, {"neighbors": 200}, budget_gb=24)  # no error
    assert info.value.exit_code == 2


def test_the_pipeline_stops_after_the_data_stage_when_the_baseline_would_not_fit(tmp_path, repo_root):
    mapping = repo_root / "examples" / "custom" / "mapping.yaml"
    cfg = PipelineConfig(data=DataConfig(source="custom", path=str(mapping)),
                         evaluation=EvaluationConfig(memory_gb=1e-6))
    with pytest.raises(MemoryBudgetError, match="evaluation.classic"):
        StageRunner(build_stages()[:2], tmp_path, cfg).run()
    assert (tmp_path / "data" / "items.parquet").exists() and not (tmp_path / "eval" / "sample.json").exists()


def test_tuning_picks_the_best_dev_point_and_the_refit_sees_the_dev_targets(planted):
    chosen, tried = tune_baseline("itemknn", planted, {"neighbors": [1, 9]}, {"shrink": 0.0})
    assert [p["neighbors"] for p, _ in tried] == [1, 9]
    assert chosen == {"shrink": 0.0, "neighbors": max(tried, key=lambda t: t[1])[0]["neighbors"]}
    assert tried[1][1] > tried[0][1]  # one neighbour cannot find the cluster's other items
    refit = fit_for_test("popular", {}, planted)
    n_dev = sum(1 for r in planted.holdout.to_pylist() if r["fold"] == "dev")
    assert refit.popularity.sum() == planted.events.num_rows + n_dev
    assert create("popular").fit(planted, "test").popularity.sum() == planted.events.num_rows


def test_baseline_rows_are_labelled_with_the_options_chosen_on_dev(planted):
    rows = baseline_rows(planted, "test", {"itemknn": {"neighbors": 100, "shrink": 10.0}},
                         grids={"itemknn": {"neighbors": [1, 9]}})
    methods = {r["method"] for r in rows if r["fold"] == "test"}
    assert methods == {"itemknn (shrink=10, neighbors=9, tuned on dev)"}
    dev = {r["metric"]: r["value"] for r in rows if r["fold"] == "dev"}
    assert set(dev) == {"dev_recall neighbors=1", "dev_recall neighbors=9"}
    assert dev["dev_recall neighbors=9"] > dev["dev_recall neighbors=1"]


def test_the_sequential_reference_early_stops_on_dev_and_keeps_its_best_epoch(planted):
    model = create("sasrec", dim=16, n_layers=1, max_len=10, epochs=12, batch=8, lr=1e-2, eval_every=2,
                   patience=2).fit(planted, "dev")
    devs = [e["dev"] for e in model.training_log if "dev" in e]
    assert devs and len(model.training_log) <= 12
    from recgpt.retrieval.evaluate import holdout_targets
    from recgpt.retrieval.metrics import recall_at_k

    users, targets = holdout_targets(planted, "dev", model.catalog)
    assert recall_at_k(model.recommend(users, 20).item_index, targets, 20) == pytest.approx(max(devs))
