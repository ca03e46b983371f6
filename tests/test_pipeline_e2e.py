"""`recgpt run` end to end on a tiny slice of Amazon Office with the real embedded model: every stage's
table is well formed, the report names every method, a run stopped after a stage resumes without
recomputing it, a rerun recomputes nothing, and a changed configuration reruns only what it affects."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from recgpt.cli.main import app

pytestmark = pytest.mark.llm

TINY = {
    "name": "tiny",
    "data": {"source": "amazon-office", "max_users": 60, "seed": 1},
    "compression": {"token_budget": 600},
    "llm": {"backend": "llama-cpp", "options": {"llama-cpp": {"threads": 1, "n_ctx": 2048}}, "progress": False,
            "structured_retries": 0},
    "interests": {"ask_interests": 2, "max_interests": 2, "max_tokens": 120, "history_lines": 6, "pool_size": 3},
    "tags": {"interests_per_user": 1, "tags_per_interest": 2, "max_tokens": 96},
    "phi": {"holdout_share": 0.0, "max_iter": 200, "augment_short_titles": False},
    "explanations": {"items_per_interest": 1, "categories_per_interest": 1, "max_tokens": 40},
    "tag_eval": {"ks": [5, 10], "sample_users": 1},
    "retriever": {"epochs": 1, "eval_every": 0, "threads": 2, "n_negatives": 256},
    "alignment": {"enabled": True, "incremental": {"max_users": 12, "per_user": 2, "holdout_share": 0.0},
                  "trainer": {"epochs": 1, "batch_size": 4, "threads": 1, "max_length": 1024},
                  "evaluation": {"ks": [5, 10], "leaves": 20}},
    "evaluation": {"sample_users": 1, "ks": [10, 20], "k_main": 10, "beta_grid": [0.0, 0.5, 1.0],
                   "tune_users": 40, "explain_top": 2},
}
ALL_STAGES = ["data", "sample", "behavior", "phi", "retriever", "interests", "align", "tags", "tag_eval",
              "retrieve", "align_eval", "explanations", "evaluate", "report"]


def run_cli(*args: str) -> str:
    result = CliRunner().invoke(app, ["run", *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def state(root) -> dict:
    return json.loads((root / "stages.json").read_text())["stages"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    run_dir = root / "run"
    run_cli("--config", str(config), "--run-dir", str(run_dir), "--until", "behavior")
    first = state(run_dir)
    run_cli("--config", str(config), "--run-dir", str(run_dir))
    return config, run_dir, first


def test_stopped_run_resumes_without_recomputing(tiny_run):
    _, run_dir, first = tiny_run
    assert list(first) == ["data", "sample", "behavior"]
    second = state(run_dir)
    assert list(second) == ALL_STAGES
    for name in first:
        assert second[name] == first[name], f"{name} was recomputed on resume"


def test_every_stage_table_is_well_formed(tiny_run):
    _, run_dir, _ = tiny_run
    sample = json.loads((run_dir / "eval" / "sample.json").read_text())["users"]
    assert len(sample) == 1
    compressed = pq.read_table(run_dir / "behavior" / "compressed.parquet")
    assert {"user_id", "text", "n_events", "n_tokens", "dropped_events"} <= set(compressed.column_names)
    assert max(compressed.column("n_tokens").to_pylist()) <= 600
    interests = pq.read_table(run_dir / "stages" / "interests.parquet")
    assert interests.column_names[:5] == ["user_id", "interest_id", "interest", "stage", "reason"]
    assert set(interests.column("user_id").to_pylist()) <= set(sample)
    assert set(interests.column("stage").to_pylist()) <= {"listed", "extended"}
    tags = pq.read_table(run_dir / "stages" / "tags.parquet")
    assert {"user_id", "tag", "interest", "reason", "category", "passed_checks"} <= set(tags.column_names)
    items = pq.read_table(run_dir / "data" / "items.parquet")
    categories = set(items.column("category").to_pylist())
    assert set(c for c in tags.column("category").to_pylist() if c) <= categories
    recs = pq.read_table(run_dir / "eval" / "recommendations.parquet").to_pylist()
    assert {r["method"] for r in recs} == {"popularity", "classic", "collaborative", "tags-only", "fused"}
    for method in ("collaborative", "fused"):
        for user in sample:
            ranks = [r["rank"] for r in recs if r["method"] == method and r["user_id"] == user]
            assert ranks == list(range(20))
    explained = pq.read_table(run_dir / "eval" / "explained.parquet").to_pylist()
    assert [(r["user_id"], r["rank"]) for r in explained] == [(sample[0], 0), (sample[0], 1)]
    for r in explained:  # an explanation, or "none" when every candidate failed the Table 6 checks
        assert (r["source"] == "none") == (r["explanation"] == "") and r["source"] in ("interest", "item", "none")
    metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())
    for method, values in {**metrics["sample"]["methods"], **metrics.get("sample_title_tags", {}).get("methods", {})}.items():
        assert 0.0 <= values["recall@10"] <= values["recall@20"] <= 1.0, method
        assert 0.0 <= values["long_tail@10"] <= 1.0
    assert metrics["beta_tuned"] in (0.0, 0.5, 1.0)
    deciles = pq.read_table(run_dir / "eval" / "deciles.parquet").to_pylist()
    population = "sample" if metrics["sample"]["users"] else "sample_title_tags"  # the user has LLM tags or not
    assert metrics[population]["users"] == 1
    fused = [r["exposure"] for r in deciles if r["method"] == "fused" and r["population"] == population]
    assert len(fused) == 10 and abs(sum(fused) - 1.0) < 1e-6
    tag_eval = json.loads((run_dir / "eval" / "tag_eval.json").read_text())
    assert len(tag_eval["series"]) >= 2 and all(len(v) == 2 for v in tag_eval["series"].values())
    usage = [json.loads(line) for line in (run_dir / "llm" / "usage.jsonl").read_text().splitlines()]
    assert {"interests", "explanations"} <= {u["task"] for u in usage}
    if interests.num_rows:  # tags are asked per kept interest
        assert "tags" in {u["task"] for u in usage}


def test_the_tags_stage_answers_with_the_tuned_adapter_and_table5_compares_it(tiny_run):
    _, run_dir, _ = tiny_run
    summary = json.loads((run_dir / "alignment" / "summary.json").read_text())
    assert summary["enabled"] and summary["samples"]["train"] > 0 and summary["steps"] >= 1
    assert (run_dir / "alignment" / "models" / "tags-il" / "adapter" / "adapter_config.json").is_file()
    trained = pq.read_table(run_dir / "alignment" / "sets" / "tags-il.parquet")
    sample = set(json.loads((run_dir / "eval" / "sample.json").read_text())["users"])
    test_items = {(r["user_id"], r["item_id"]) for r in pq.read_table(run_dir / "data" / "holdout.parquet").to_pylist()
                  if r["fold"] == "test"}
    for row in trained.to_pylist():  # never a test target as a training target
        assert not {(row["user_id"], i) for i in json.loads(row["provenance"])["items"]} & test_items
    usage = [json.loads(line) for line in (run_dir / "llm" / "usage.jsonl").read_text().splitlines()]
    tag_models = {u["model"] for u in usage if u["task"] == "tags"}
    assert not tag_models or all("+lora@" in m for m in tag_models)  # the tags stage used the tuned adapter
    table5 = json.loads((run_dir / "alignment" / "table5.json").read_text())
    asked = sample & set(pq.read_table(run_dir / "stages" / "interests.parquet").column("user_id").to_pylist())
    assert table5["users"] == len(asked)  # the sampled users the tags stage asked
    tags_summary = json.loads((run_dir / "stages" / "tags_summary.json").read_text())
    assert table5["models"]["tuned"]["calls"] == max(1, tags_summary["counts"].get("calls", 0))  # its answers, reused
    assert set(table5["rows"]) == {"base", "tuned", "history", "popularity"}
    for row in table5["rows"].values():
        assert 0.0 <= row["category"]["HR@5"] <= row["category"]["HR@10"] <= 1.0
    assert set(table5["models"]) == {"base", "tuned"} and table5["models"]["tuned"]["adapter"]
    assert "## Alignment" in (run_dir / "report" / "report.md").read_text()


def test_report_names_every_method(tiny_run):
    _, run_dir, _ = tiny_run
    md = (run_dir / "report" / "report.md").read_text()
    html = (run_dir / "report" / "report.html").read_text()
    for label in ("Popularity", "Classic baseline", "collaborative-only (beta=1)", "tags-only (beta=0)", "TAR fused"):
        assert label in md and label in html
    for section in ("Does RecGPT beat", "Matthew", "Tag quality", "LLM stages", "Case 1"):
        assert section in md
    assert html.count("data:image/png;base64,") >= 4


def test_rerun_recomputes_nothing_and_a_change_reruns_what_it_affects(tiny_run):
    config, run_dir, _ = tiny_run
    before = state(run_dir)
    calls_before = len((run_dir / "llm" / "usage.jsonl").read_text().splitlines())
    out = run_cli("--config", str(config), "--run-dir", str(run_dir))
    assert state(run_dir) == before
    assert out.count("unchanged, skipped") == len(ALL_STAGES)
    assert len((run_dir / "llm" / "usage.jsonl").read_text().splitlines()) == calls_before

    changed = dict(TINY, evaluation={**TINY["evaluation"], "beta_grid": [0.0, 1.0]})
    config.write_text(yaml.safe_dump(changed))
    run_cli("--config", str(config), "--run-dir", str(run_dir))
    after = state(run_dir)
    for name in ("data", "sample", "behavior", "phi", "retriever", "interests", "align", "tags", "tag_eval"):
        assert after[name] == before[name], f"{name} reran although nothing it reads changed"
    assert after["retrieve"]["fingerprint"] != before["retrieve"]["fingerprint"]
    assert after["evaluate"]["fingerprint"] != before["evaluate"]["fingerprint"]  # tuning.json changed


def test_recommend_prints_items_with_explanations(tiny_run):
    from recgpt.pipeline.recommend import recommend_explained

    _, run_dir, _ = tiny_run
    user = json.loads((run_dir / "eval" / "sample.json").read_text())["users"][0]
    items, context = recommend_explained(run_dir, user, k=5)
    assert [it.rank for it in items] == [1, 2, 3, 4, 5]
    history = {r["item_id"] for r in pq.read_table(run_dir / "data" / "events.parquet").to_pylist()
               if r["user_id"] == user}
    assert not history & {it.item_id for it in items}
    result = CliRunner().invoke(app, ["recommend", "--run", str(run_dir), "--user", user, "--k", "5"])
    assert result.exit_code == 0, result.output
    assert items[0].item_id in result.output
    missing = CliRunner().invoke(app, ["recommend", "--run", str(run_dir), "--user", "no-such-user"])
    assert missing.exit_code == 2 and "not in the run's data" in missing.output
