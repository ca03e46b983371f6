"""The report renders from a run folder's tables alone: every method, every section, embedded figures."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from recgpt.pipeline.artifacts import METHODS, write_json
from recgpt.pipeline.evaluate import decile_rows
from recgpt.retrieval.evaluate import method_metrics
from recgpt.pipeline.report import build_report
from recgpt.runfolder import RunFolder


def fake_run(root):
    run = files = RunFolder(root).ensure()
    rng = np.random.default_rng(0)
    n_items, n_users, ks = 60, 12, [5, 10]
    category = np.arange(n_items) % 6
    popularity = rng.integers(0, 50, n_items)
    targets = rng.integers(0, n_items, n_users)
    methods, deciles, recs = {}, [], []
    for m in METHODS:
        ranked = np.stack([rng.permutation(n_items)[:10] for _ in range(n_users)])
        methods[m] = method_metrics(ranked, targets, category, popularity, ks)
        deciles += [dict(r, population="sample") for r in decile_rows(m, ranked, targets, popularity, 10)]
        recs += [{"method": m, "user_id": f"u{u}", "rank": r, "item_id": f"i{ranked[u, r]}", "score": 1.0}
                 for u in range(n_users) for r in range(10)]
    write_json(files.metrics, {"dataset": "toy", "ks": ks, "k_main": 10, "seed": 0, "classic_name": "ease",
                               "beta_tuned": 0.5, "beta_grid": {"0.0": 0.1, "0.5": 0.2, "1.0": 0.15},
                               "beta_metric": "recall@10", "sample": {"users": n_users, "methods": methods}})
    pq.write_table(pa.Table.from_pylist(deciles), files.deciles)
    pq.write_table(pa.Table.from_pylist(recs), files.recommendations)
    write_json(files.tag_eval, {"ks": [5, 10, 30], "users": n_users,
                                "series": {"LLM tags via phi": [0.3, 0.5, 0.8], "history categories": [0.4, 0.6, 0.9]}})
    pq.write_table(pa.Table.from_pylist([{"user_id": "u1", "interest_id": 0, "interest": "fine pens",
                                          "stage": "listed", "reason": "bought pens"}]), run.interests)
    pq.write_table(pa.Table.from_pylist([{"user_id": "u1", "tag": "gel ink pens", "interest": "fine pens",
                                          "reason": "r", "category": "c1", "passed_checks": True}]), run.tags)
    pq.write_table(pa.Table.from_pylist([{"user_id": "u1", "text": "2014 (review) | Pen A", "n_events": 1,
                                          "n_lines": 1, "n_tokens": 9}]), run.compressed)
    pq.write_table(pa.Table.from_pylist([{"user_id": "u1", "rank": r, "item_id": f"i{r}", "title": f"Item {r}",
                                          "category": "c1", "interest": "fine pens", "explanation": "for your pens",
                                          "source": "interest"} for r in range(5)]), files.explained)
    run.llm_usage.write_text("\n".join(json.dumps(r) for r in [
        {"task": "interests", "ok": True, "cached": False, "prompt_tokens": 100, "completion_tokens": 50, "latency_s": 2.0},
        {"task": "tags", "ok": False, "cached": False, "prompt_tokens": 80, "completion_tokens": 40, "latency_s": 1.0},
        {"task": "tags", "ok": True, "cached": True, "prompt_tokens": 80, "completion_tokens": 40, "latency_s": 0.0},
    ]) + "\n")
    return run


def test_report_names_every_method_and_embeds_figures(tmp_path):
    run = fake_run(tmp_path)
    md_path, html_path = build_report(tmp_path)
    md, page = md_path.read_text(), html_path.read_text()
    for label in ("Popularity", "Classic baseline (ease)", "collaborative-only (beta=1)", "tags-only (beta=0)",
                  "TAR fused (beta=0.5"):
        assert label in md and label in page
    for section in ("Does RecGPT beat", "Accuracy", "Diversity", "Matthew", "Tag quality", "LLM stages", "Case 1"):
        assert section in md
    assert page.count("data:image/png;base64,") >= 4
    assert "src=\"figures/" not in page  # self-contained
    for name in ("accuracy", "diversity", "matthew", "tag_hit_rate"):
        assert (run.figures / f"{name}.png").stat().st_size > 1000
    # usage: 3 calls, 1 cache hit, 1 failure, compute seconds skip the cached call
    assert "| total | 3 | 1 | 1 | 260 | 130 | 3.0 |" in md.replace("**", "")


def test_decile_hit_rate_counts_users_per_target_decile():
    popularity = np.arange(20, 0, -1)  # item 0 most popular
    ranked = np.array([[0, 1], [2, 3], [19, 18]])
    targets = np.array([0, 5, 19])  # deciles 0, 2, 9; hits for users 0 and 2
    rows = {r["decile"]: r for r in decile_rows("m", ranked, targets, popularity, 2)}
    assert rows[0]["target_users"] == 1 and rows[0]["hit_rate"] == 1.0
    assert rows[2]["hit_rate"] == 0.0 and rows[9]["hit_rate"] == 1.0
    assert np.isnan(rows[4]["hit_rate"])
    assert abs(sum(r["exposure"] for r in rows.values()) - 1.0) < 1e-9
