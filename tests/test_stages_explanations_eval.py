"""Explanations (pairing, production, lookup table), tag evaluation HR@K and phi, on the tiny data set."""

import datetime as dt
import json

import pyarrow as pa
import pytest

from recgpt.stages.config import ExplanationsConfig, PhiConfig
from recgpt.stages.explanations import ExplanationTable, Pair, pair_interests_with_items, produce_explanations
from recgpt.stages.phi import TagToCategory, short_title
from recgpt.stages.postchecks import EmbeddingCache
from recgpt.stages.tag_eval import evaluate_tags, history_ranking, rank_by_count
from stages_fixtures import fake_runtime, tiny_dataset

TAGS = pa.table({
    "user_id": ["u1", "u1", "u1", "u3", "u3"],
    "tag": ["fine liner drawing pens", "dotted journal notebook", "graphing calculator cover", "spiral notebook", "x"],
    "interest": ["sketching", "sketching", "sketching", "journaling", "journaling"],
    "reason": ["r"] * 5,
    "category": ["Pens", "Notebooks", "Calculators", "Notebooks", "Pens"],
    "passed_checks": [True, True, False, True, False],
})
POPULARITY = {"p1": 9, "p2": 5, "p3": 1, "n1": 4, "n2": 7, "c1": 3, "c2": 2}


def test_pairing_uses_passed_tags_categories_popular_items_and_adds_item_only():
    config = ExplanationsConfig(items_per_interest=2, categories_per_interest=2)
    pairs = pair_interests_with_items(TAGS, tiny_dataset().items, POPULARITY, config)
    assert [(p.interest, p.item_id) for p in pairs] == [
        ("journaling", "n2"), ("journaling", "n1"),  # only Notebooks: the Pens tag failed its checks
        ("sketching", "p1"), ("sketching", "n2"),  # Pens and Notebooks (Calculators tag failed), popular first
        ("", "n2"), ("", "n1"), ("", "p1"),  # item-only fallbacks
    ]
    assert pairs[2].tags == ("fine liner drawing pens",)
    limited = pair_interests_with_items(TAGS, tiny_dataset().items, POPULARITY, config, candidates=["p3", "n1"])
    assert {p.item_id for p in limited} == {"p3", "n1"}


def test_produce_explanations_checks_and_lookup(tmp_path):
    ds = tiny_dataset()
    answers = {
        ("sketching", "p1"): "Sketch bold city lines on winter evenings",
        ("journaling", "n2"): "Great",  # too short
        ("", "p1"): "Smooth ink that keeps pace with quick notes",
        ("", "n2"): "not json",
    }
    def script(prompt):
        interest = prompt.split("User interest: ")[1].split("\n")[0] if "User interest: " in prompt else ""
        item = "p1" if "Pilot G2" in prompt else "n2"
        text = answers[(interest, item)]
        return text if text == "not json" else json.dumps({"explanation": text})
    runtime, _ = fake_runtime(script, tmp_path)
    pairs = [Pair("sketching", "p1"), Pair("journaling", "n2"), Pair("", "p1"), Pair("", "n2")]
    outcome = produce_explanations(pairs, ds.items, runtime, ExplanationsConfig(), dt.date(2024, 1, 1))
    assert outcome.counts["failed_calls"] == 1 and outcome.counts["length"] == 1 and outcome.counts["passed"] == 2
    table = ExplanationTable(tmp_path / "explanations.sqlite", match_similarity=0.5, vectors=EmbeddingCache())
    assert table.write(outcome.table) == 3
    assert table.count() == {"rows": 3, "passed": 2}
    exact = table.lookup(["Sketching"], "p1")
    assert exact.explanation == "Sketch bold city lines on winter evenings" and exact.similarity == 1.0
    close = table.lookup(["drawing and sketching art"], "p1")
    assert close.interest == "sketching" and 0.5 <= close.similarity < 1.0
    fallback = table.lookup(["tax accounting"], "p1")
    assert fallback.interest == "" and fallback.explanation.startswith("Smooth ink")
    assert table.lookup(["journaling"], "n2") is None  # the only rows failed their checks
    table.close()


def test_rankings():
    assert rank_by_count(["a", "b", "b", "c", "a", "b"]) == ["b", "a", "c"]
    assert history_ranking(["a", "b", "a", "b", "c"]) == ["b", "a", "c"]  # tie: most recent first


def test_tag_eval_known_answer():
    ds = tiny_dataset()  # test targets: u1 -> n2 (Notebooks), u2 -> c2 (Calculators), u3 -> n2 (Notebooks)
    report = evaluate_tags(TAGS, ds, ["u1", "u2", "u3"], "test", ks=[1, 2])
    assert report.n_users == 3 and report.n_users_with_tags == 2
    llm = report.rows["llm_tags"]  # u1: [Pens, Notebooks]; u3: [Notebooks]; u2: nothing (a miss)
    assert llm["HR@1"] == pytest.approx(1 / 3) and llm["HR@2"] == pytest.approx(2 / 3)
    hist = report.rows["history"]  # u1: Pens x3 then Notebooks; u2: Calculators; u3: Notebooks x2, Pens
    assert hist["HR@1"] == pytest.approx(2 / 3) and hist["HR@2"] == pytest.approx(1.0)
    assert report.rows["popularity"]["mean_list"] == 3.0
    assert "| llm_tags |" in report.as_markdown()


def test_phi_fit_predict_save_load(tmp_path):
    ds = tiny_dataset()
    titles, cats = ds.items.column("title").to_pylist(), ds.items.column("category").to_pylist()
    phi = TagToCategory(PhiConfig(holdout_share=0.4, seed=1)).fit(titles, cats, ds.items.column("brand").to_pylist())
    assert phi.report.n_test_items == 3 and 0.0 <= phi.report.accuracy <= 1.0
    assert phi.predict(["scientific calculator", "ruled notebook", "gel ink pens"]) == ["Calculators", "Notebooks", "Pens"]
    top = phi.predict_topk(["gel ink pens"], 2)[0]
    assert top[0][0] == "Pens" and len(top) == 2 and top[0][1] >= top[1][1]
    phi.save(tmp_path / "phi")
    again = TagToCategory.load(tmp_path / "phi")
    assert again.predict(["ruled notebook"]) == ["Notebooks"] and again.report == phi.report
    assert short_title("Texas Instruments TI-84 Plus Graphing Calculator", "Texas Instruments") == "plus graphing calculator"
    with pytest.raises(FileNotFoundError):
        TagToCategory.load(tmp_path / "nothing")
