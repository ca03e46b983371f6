"""Table 5 (tag HR@K of the next interaction's class) on the tiny data set, with a known answer at both
granularities, and the leaf clusters it uses."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from stages_fixtures import tiny_dataset

from recgpt.alignment.evaluate import Leaves, Table5, hit_table
from recgpt.stages.tags import TAGS_SCHEMA

# four product types: spiral notebooks, other notebooks, pens and markers, calculators
KEYWORDS = [("spiral",), ("notebook",), ("pen", "marker"), ("calculator",)]


def fake_embed(texts: list[str]) -> np.ndarray:
    out = np.zeros((len(texts), len(KEYWORDS)), dtype=np.float32)
    for row, text in enumerate(texts):
        lower = text.lower()
        column = next(i for i, words in enumerate(KEYWORDS) if any(w in lower for w in words))
        out[row, column] = 1.0
    return out


def _tags(*rows) -> pa.Table:
    return pa.Table.from_pylist([{"user_id": u, "tag": t, "interest": "x", "reason": "", "category": c,
                                  "passed_checks": ok, "failed_check": None if ok else "vague"}
                                 for u, t, c, ok in rows], schema=TAGS_SCHEMA)


@pytest.fixture(scope="module")
def leaves():
    titles = tiny_dataset().items.column("title").to_pylist()
    return Leaves.fit(titles, 4, seed=0, embed=fake_embed)


def test_leaves_group_titles_and_tags_by_product_type(leaves):
    spiral, hard_cover, pens, calculator = leaves.of(["Five Star Spiral Notebook", "Moleskine Hard Cover Notebook",
                                                      "gel pens", "graphing calculator"])
    assert len({spiral, hard_cover, pens, calculator}) == 4
    assert leaves.of(["spiral notebook college ruled"]) == [spiral]
    assert leaves.of(["Sharpie Fine Point Permanent Markers"]) == [pens]


def test_hit_rates_at_both_granularities_have_the_known_answer(leaves):
    dataset = tiny_dataset()
    # test targets: u1 -> n2 (spiral notebook), u2 -> c2 (calculator), u3 -> n2 (spiral notebook)
    tags = _tags(("u1", "gel pens", "Pens", True), ("u1", "retractable gel pens", "Pens", True),
                 ("u1", "hard cover notebook", "Notebooks", True),
                 ("u2", "graphing calculator", "Calculators", False),  # removed by the post-checks: not counted
                 ("u3", "spiral notebook", "Notebooks", True))
    rows = hit_table({"model": tags}, dataset, ["u1", "u2", "u3"], [1, 2], leaves)
    # u1 ranks Pens (2 tags) before Notebooks: a category hit at 2, but the hard-cover leaf is not the spiral one
    assert rows["model"]["category"]["HR@1"] == pytest.approx(1 / 3)  # u3 only
    assert rows["model"]["category"]["HR@2"] == pytest.approx(2 / 3)
    assert rows["model"]["leaf"]["HR@2"] == pytest.approx(1 / 3)
    # history (train + dev): u1 Pens x3, Notebooks; u2 Calculators x2, Pens; u3 Notebooks x2, Calculators, Pens
    assert rows["history"]["category"]["HR@1"] == pytest.approx(2 / 3)
    assert rows["history"]["leaf"]["HR@1"] == pytest.approx(1 / 3)  # u2's calculators; u3's notebooks are mixed
    assert rows["popularity"]["category"]["HR@1"] == 0.0  # Pens, nobody's next category


def test_table5_round_trips_and_prints_both_granularities(tmp_path):
    row = {"HR@5": 0.5, "mean_list": 2.0}
    table = Table5([5], 2, {"mined": 0, "history_categories": 2},
                   {"base": {"category": row, "leaf": row}},
                   {"base": {"valid_json": 1.0, "pass_rate": 0.25, "tags_per_user": 3.0, "tokens_per_answer": 40.0,
                             "seconds_per_user": 1.5, "calls": 6, "adapter": None}})
    again = Table5.read(table.write(tmp_path / "table5.json"))
    assert again == table
    text = again.as_markdown()
    assert "| base | 0.500 | 0.500 |" in text and "| base | 1.000 | 0.250 | 3.0 | 40.0 | 1.50 |" in text


class _TitleMatcher:
    """A retriever stand-in: with tags (beta 0) it ranks the items whose title holds a tag's first word first;
    with beta 1 it ranks by catalog order only (the "collaborative" part)."""

    def __init__(self, dataset):
        from recgpt.data.catalog import Catalog

        self.catalog = Catalog.from_table(dataset.items)
        self.titles = [t.lower() for t in dataset.items.column("title").to_pylist()]
        self.fold = None

    def use_history(self, dataset, fold):
        self.fold = fold

    def recommend(self, users, k, tags=None, beta=1.0):
        from recgpt.retrieval.base import Recommendations

        rows = []
        for u in users:
            words = [t.split()[0] for t in (tags or {}).get(u, [])]
            match = np.array([any(w in title for w in words) for title in self.titles], dtype=float)
            order = np.arange(len(self.titles), dtype=float) / len(self.titles)
            rows.append(np.argsort(-((1 - beta) * match - beta * order), kind="stable")[:k])
        index = np.array(rows, dtype=np.int64)
        ids = np.array([[self.catalog.item_ids[i] for i in row] for row in index], dtype=object)
        return Recommendations(np.array(users, dtype=object), ids, np.zeros(index.shape, np.float32), index)


def test_downstream_retrieval_ranks_with_each_models_tags_on_the_users_both_models_tagged():
    from recgpt.alignment import downstream

    dataset = tiny_dataset()
    fake = _TitleMatcher(dataset)
    # test targets: u1 -> n2 (spiral notebook), u2 -> c2 (solar calculator), u3 -> n2
    good = _tags(("u1", "spiral notebook", "Notebooks", True), ("u2", "solar calculator", "Calculators", True),
                 ("u3", "spiral notebook", "Notebooks", True))
    bad = _tags(("u1", "gel pens", "Pens", True), ("u2", "permanent markers", "Pens", True),
                ("u3", "spiral notebook", "Notebooks", False))  # fails the checks: u3 has no tags from "bad"
    out = downstream.downstream_retrieval(fake, dataset, {"good": good, "bad": bad}, ["u1", "u2", "u3"],
                                          beta=1.0, ks=[1, 2], k_main=2)
    assert fake.fold == "test"
    assert out["users"] == 2 and out["beta"] == 1.0 and out["k"] == 2
    assert out["good tags-only"]["recall@1"] == 1.0 and out["bad tags-only"]["recall@2"] == 0.0
    # fused at beta 1 is catalog order for both models: n2 and c2 are the last items, so no hit at 2
    assert out["good fused"]["recall@2"] == out["bad fused"]["recall@2"] == 0.0
    assert "Recall@2" in Table5([1], 3, downstream=out).as_markdown()
    none = downstream.downstream_retrieval(fake, dataset, {"bad": bad}, ["u3"], 0.5, [1], 1)
    assert none == {"users": 0, "beta": 0.5, "k": 1}


def test_answer_quality_has_the_known_figures():
    from recgpt.alignment.evaluate import answer_quality

    tags = _tags(("u1", "gel pens", "Pens", True), ("u1", "Gel Pens", "Pens", True),  # one distinct tag
                 ("u1", "spiral notebook", "Notebooks", True), ("u2", "calculator", "Calculators", True),
                 ("u3", "stuff", None, False))
    quality = answer_quality(tags, {"calls": 4, "failed_calls": 1}, {"completion_tokens": 100}, ["u1", "u2", "u3"],
                             6.0, None)
    assert quality["valid_json"] == 0.75 and quality["pass_rate"] == 0.8
    assert quality["tags_per_user"] == pytest.approx(3 / 3) and quality["tokens_per_answer"] == 25.0
    assert quality["seconds_per_user"] == 2.0 and quality["adapter"] is None


def test_a_model_already_answered_is_not_asked_again(tmp_path, leaves):
    """The pipeline passes the tags stage's tuned answers: Table 5 ranks them without loading the model (the
    adapter path here does not exist, so asking it would fail)."""
    from recgpt.alignment.config import Table5Config
    from recgpt.alignment.evaluate import evaluate_tag_models
    from recgpt.runfolder import RunFolder
    from recgpt.stages.postchecks import EmbeddingCache

    dataset = tiny_dataset()
    tags = _tags(("u1", "gel pens", "Pens", True), ("u3", "spiral notebook", "Notebooks", True))
    quality = {"valid_json": 1.0, "pass_rate": 1.0}
    table, tables = evaluate_tag_models(
        RunFolder(tmp_path), dataset, None, None, None, {"tuned": tmp_path / "no-such-adapter"}, ["u1", "u2", "u3"],
        Table5Config(ks=[1, 2], leaves=4), tmp_path / "cache.sqlite", answered={"tuned": (tags, quality)},
        vectors=EmbeddingCache(fake_embed))
    assert tables["tuned"] is tags and table.models["tuned"] == quality
    assert table.rows["tuned"] == hit_table({"tuned": tags}, dataset, ["u1", "u2", "u3"], [1, 2], leaves)["tuned"]
