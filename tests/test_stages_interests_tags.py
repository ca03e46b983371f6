"""Interest mining and tag prediction with the scripted fake model: parsing, checks, bad answers counted."""

import pytest

from recgpt.stages.config import InterestsConfig, PhiConfig, TagsConfig
from recgpt.stages.context import build_contexts, sample_users
from recgpt.stages.interest_pool import InterestPool, category_interest
from recgpt.stages.interests import PUBLIC_COLUMNS, kept_interests, mine_interests
from recgpt.stages.phi import TagToCategory
from recgpt.stages.postchecks import EmbeddingCache
from recgpt.stages.tags import CatalogHints, predict_tags
from stages_fixtures import fake_runtime, interests_json, tags_json, tiny_dataset


@pytest.fixture(scope="module")
def data():
    ds = tiny_dataset()
    return ds, build_contexts(ds, ["u1", "u2", "u3"], "test")


@pytest.fixture(scope="module")
def vectors():
    return EmbeddingCache()


@pytest.fixture(scope="module")
def phi():
    ds = tiny_dataset()
    return TagToCategory(PhiConfig(holdout_share=0.0)).fit(
        ds.items.column("title").to_pylist(), ds.items.column("category").to_pylist(), ds.items.column("brand").to_pylist()
    )


def by_user(answers):
    """A script answering by the user named in the prompt's behavior (each user has distinct items)."""
    def script(prompt):
        for marker, answer in answers.items():
            if marker in prompt:
                return answer
        return ""
    return script


def test_mine_interests_parses_checks_and_counts_bad_answers(data, vectors, tmp_path):
    ds, contexts = data
    script = by_user({
        "Five Star Spiral": interests_json(  # u3: notebooks and pens
            ("journaling in notebooks", "listed", "bought Moleskine and Five Star notebooks"),
            ("journaling in notebooks", "listed", "bought notebooks"),  # duplicate
            ("scuba diving", "extended", "bought diving fins"),  # hallucination
        ),
        "Casio Scientific": "this is not json at all",  # u2: broken answer, retried then failed
        "Uni-ball Vision": '{"interests": []}',  # u1: valid but empty
    })
    runtime, backend = fake_runtime(script, tmp_path)
    pool = InterestPool.from_catalog(ds.items.column("category").to_pylist(), vectors)
    outcome = mine_interests(contexts, runtime, pool, InterestsConfig(), vectors)
    c = outcome.counts
    assert (c["users"], c["calls"], c["failed_calls"], c["empty_answers"]) == (3, 3, 1, 1)
    assert (c["candidates"], c["passed"], c["duplicate"], c["ungrounded"]) == (3, 1, 1, 1)
    rows = outcome.table.to_pylist()
    assert [r["interest_id"] for r in rows] == ["u3:01", "u3:02", "u3:03"]
    assert set(PUBLIC_COLUMNS) <= set(outcome.table.column_names)
    assert kept_interests(outcome.table) == {"u3": ["journaling in notebooks"]}
    calls = backend.calls
    again = mine_interests(contexts, runtime, pool, InterestsConfig(), vectors)  # resumed from the cache
    assert again.counts["cached_calls"] == 2 and backend.calls - calls == 3  # only the failed call reruns (3 tries)


def test_interest_pool_matches_history_and_excludes_own_mined(vectors, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pool = InterestPool.from_catalog(["Pens / Markers", "Calculators", "Notebooks"], vectors)
    assert category_interest("Pens / Markers") == "pens and markers"
    assert pool.match(["Casio Scientific Calculator"], 1) == ["calculators"]
    path = tmp_path / "interests.parquet"
    pq.write_table(pa.table({"user_id": ["a", "b"], "interest": ["graphing math homework", "fountain pens"]}), path)
    assert pool.add_mined(path) == 2
    assert "graphing math homework" not in pool.match(["TI-84 graphing calculator"], 5, exclude_user="a")
    assert "graphing math homework" in pool.match(["TI-84 graphing calculator"], 5, exclude_user="b")


def test_predict_tags_per_interest_with_checks_and_categories(data, vectors, phi, tmp_path):
    ds, contexts = data
    def script(prompt):
        if "Interest: journaling" in prompt:
            return tags_json(
                ("dotted bullet journal notebook", "likes journaling"),
                ("dotted bullet journal notebooks", "near duplicate"),
                ("Five Star Spiral Notebook College Ruled", "copies a recent purchase"),
                ("smart notebook", "vague"),
            )
        if "Interest: drawing" in prompt:
            return '{"tags": "not a list"}'  # wrong schema
        return ""  # empty answer
    runtime, backend = fake_runtime(script, tmp_path)
    interests = {"u3": ["journaling", "drawing"], "u1": ["pens"]}
    outcome = predict_tags(contexts, interests, runtime, TagsConfig(), phi=phi, brands=["Five Star"], vectors=vectors)
    c = outcome.counts
    assert c["users_without_interests"] == 1  # u2
    assert (c["calls"], c["failed_calls"]) == (3, 2)  # one per interest; schema and empty failures
    assert (c["passed"], c["duplicate"], c["history_copy"] + c["brand"], c["vague"]) == (1, 1, 1, 1)
    rows = outcome.table.to_pylist()
    assert all(r["interest"] == "journaling" for r in rows)
    assert rows[0]["category"] == "Notebooks" and rows[0]["passed_checks"]
    assert outcome.table.column_names[:6] == ["user_id", "tag", "interest", "reason", "category", "passed_checks"]


def test_all_tags_copying_history_are_removed_not_crashing(data, vectors, phi, tmp_path):
    ds, contexts = data
    copy = tags_json(("Moleskine Classic Hard Cover Notebook Ruled", "r"), ("Five Star Spiral Notebook College Ruled", "r"))
    runtime, _ = fake_runtime(lambda prompt: copy, tmp_path)
    outcome = predict_tags({"u3": contexts["u3"]}, {"u3": ["journaling"]}, runtime, TagsConfig(forbid_brands=False),
                           phi=phi, vectors=vectors)
    assert outcome.counts["history_copy"] == 2 and outcome.counts.get("passed", 0) == 0
    assert not any(outcome.table.column("passed_checks").to_pylist())


def test_catalog_hints_exclude_history_and_follow_phi(data, phi):
    ds, contexts = data
    hints = CatalogHints(ds.items, {"n2": 5, "n1": 3}, phi, categories=1)
    assert hints("notebook journaling", {"n1"}, 3) == ["spiral notebook college ruled"]
    assert hints("notebook journaling", set(), 3)[0] == "spiral notebook college ruled"  # most popular first


def test_sample_users_is_seeded_and_needs_a_target():
    ds = tiny_dataset()
    assert sample_users(ds, None, 0, "test") == ["u1", "u2", "u3"]
    assert sample_users(ds, 2, 7, "test") == sample_users(ds, 2, 7, "test")
    assert len(sample_users(ds, 2, 7, "test")) == 2


def test_cut_off_list_answers_are_salvaged_and_counted(data, vectors, tmp_path):
    ds, contexts = data
    cut = ('{"interests": [{"interest": "journaling in notebooks", "stage": "listed", "reason": "bought Moleskine'
           ' and Five Star notebooks"}, {"interest": "journ')
    runtime, _ = fake_runtime(lambda prompt: cut, tmp_path)
    pool = InterestPool.from_catalog(ds.items.column("category").to_pylist(), vectors)
    outcome = mine_interests({"u3": contexts["u3"]}, runtime, pool, InterestsConfig(), vectors)
    assert outcome.counts["failed_calls"] == 1 and outcome.counts["salvaged_answers"] == 1
    assert kept_interests(outcome.table) == {"u3": ["journaling in notebooks"]}


def test_salvage_items_keeps_only_complete_valid_items():
    from recgpt.stages.schemas import PredictedTag, salvage_items

    text = '{"tags": [{"tag": "a b", "reason": "r"}, {"tag": 3}, {"tag": "c d", "reason": "s"}, {"tag": "e'
    assert [t.tag for t in salvage_items(text, PredictedTag)] == ["a b", "c d"]
    assert salvage_items("no list here", PredictedTag) == []
