"""Each stage with the real embedded model (SmolLM2-135M through llama-cpp) on two bundled Amazon users.

Asserts the structure of what comes back and that the post-checks ran, not the quality of a 135M model.
"""

import datetime as dt

import pytest

pytestmark = pytest.mark.llm


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    pytest.importorskip("llama_cpp")
    import torch

    torch.set_num_threads(2)
    from recgpt.data.loaders import load_amazon_office
    from recgpt.llm.runtime import LLMConfig, LLMRuntime
    from recgpt.stages.config import PhiConfig
    from recgpt.stages.context import build_contexts, sample_users
    from recgpt.stages.phi import TagToCategory
    from recgpt.stages.postchecks import EmbeddingCache

    ds = load_amazon_office("data/amazon-office")
    users = sample_users(ds, 2, 0, "test")
    contexts = build_contexts(ds, users, "test")
    items = ds.items.slice(0, 300)  # a small phi keeps the test short; the real one trains on every item
    phi = TagToCategory(PhiConfig(holdout_share=0.0, augment_short_titles=False)).fit(
        items.column("title").to_pylist(), items.column("category").to_pylist())
    tmp = tmp_path_factory.mktemp("llm")
    runtime = LLMRuntime(LLMConfig(options={"llama-cpp": {"threads": 2}}, progress=False, structured_retries=0), cache_path=tmp / "cache.sqlite")
    yield ds, contexts, phi, runtime, EmbeddingCache()
    runtime.close()


def test_interests_with_the_embedded_model(setup):
    from recgpt.stages.config import InterestsConfig
    from recgpt.stages.interest_pool import InterestPool
    from recgpt.stages.interests import mine_interests

    ds, contexts, _, runtime, vectors = setup
    pool = InterestPool.from_catalog(ds.items.column("category").to_pylist(), vectors)
    config = InterestsConfig(max_tokens=96, ask_interests=3, pool_size=5, max_interests=2)
    outcome = mine_interests(contexts, runtime, pool, config, vectors)
    c = outcome.counts
    assert c["calls"] == 2 and c["users"] == 2
    assert outcome.usage["completion_tokens"] > 0
    rows = outcome.table.to_pylist()
    kept = [r for r in rows if r["passed_checks"]]
    assert c["passed"] == len(kept) and len(rows) == c["candidates"]
    assert len({r["interest_id"] for r in rows}) == len(rows)
    necessity = {w.lower() for w in config.necessity_words}
    for row in rows:
        assert row["user_id"] in contexts and row["stage"] in ("listed", "extended")
        assert row["passed_checks"] == (row["failed_check"] is None)
    for user in contexts:  # what a kept interest must be, rechecked here
        mine = [" ".join(r["interest"].lower().split()) for r in kept if r["user_id"] == user]
        assert len(mine) <= config.max_interests and len(mine) == len(set(mine))
        assert all(m and not set(m.replace(",", " ").split()) & necessity for m in mine)
    silent = set(contexts) - {r["user_id"] for r in rows}  # a user without rows had a failed or empty answer
    assert len(silent) <= c.get("failed_calls", 0) + c.get("empty_answers", 0)


def test_tags_with_the_embedded_model(setup):
    from recgpt.stages.config import TagsConfig
    from recgpt.stages.tags import CatalogHints, predict_tags

    ds, contexts, phi, runtime, vectors = setup
    user = sorted(contexts)[0]
    hints = CatalogHints(ds.items, {}, phi)
    config = TagsConfig(max_tokens=96, tags_per_interest=3, interests_per_user=1)
    outcome = predict_tags({user: contexts[user]}, {user: ["writing with pens"]}, runtime, config, phi,
                           ds.items.column("brand").to_pylist(), vectors, hints=hints)
    c = outcome.counts
    assert c["calls"] == 1
    rows = outcome.table.to_pylist()
    kept = [r for r in rows if r["passed_checks"]]
    assert c["passed"] == len(kept) and len(rows) == c["candidates"]
    from recgpt.stages.text import normalise

    brands = {normalise(b) for b in ds.items.column("brand").to_pylist() if b and len(normalise(b)) >= 3}
    recent = {normalise(t) for t in contexts[user].recent}
    for row in rows:
        assert row["interest"] == "writing with pens" and row["category"] in phi.classes
        assert row["passed_checks"] == (row["failed_check"] is None)
    texts = [normalise(r["tag"]) for r in kept]
    assert len(texts) == len(set(texts))  # no kept duplicates
    for tag in texts:  # what a kept tag must be, rechecked here
        assert config.min_words <= len(tag.split()) <= config.max_words
        assert not any(f" {b} " in f" {tag} " for b in brands), tag
        assert tag not in recent and not any(ch.isdigit() for ch in tag)


def test_explanations_with_the_embedded_model(setup, tmp_path):
    from recgpt.stages.config import ExplanationsConfig
    from recgpt.stages.explanations import ExplanationTable, Pair, produce_explanations

    ds, _, _, runtime, vectors = setup
    item = ds.items.column("item_id")[0].as_py()
    pairs = [Pair("solving math homework", item), Pair("", item)]
    outcome = produce_explanations(pairs, ds.items, runtime, ExplanationsConfig(max_tokens=40), dt.date(2014, 6, 1))
    c = outcome.counts
    assert c["calls"] == 2 and c["pairs"] == 2
    rows = outcome.table.to_pylist()
    assert len(rows) == c["calls"] - c["failed_calls"]  # one row per answered pair
    assert {(r["interest"], r["item_id"]) for r in rows} <= {(p.interest, p.item_id) for p in pairs}
    config = ExplanationsConfig(max_tokens=40)
    from recgpt.stages.text import normalise, words

    title = ds.items.column("title")[0].as_py()
    for row in rows:  # what a passed explanation must be, rechecked here
        assert row["passed_checks"] == (row["failed_check"] is None)
        if row["passed_checks"]:
            text = row["explanation"]
            assert config.min_words <= len(words(text)) <= config.max_words
            assert "@" not in text and normalise(text) != normalise(title)
    table = ExplanationTable(tmp_path / "e.sqlite", vectors=vectors)
    assert table.write(outcome.table) == outcome.table.num_rows
    table.close()
