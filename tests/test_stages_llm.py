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
    outcome = mine_interests(contexts, runtime, pool, InterestsConfig(max_tokens=96, ask_interests=3, pool_size=5), vectors)
    c = outcome.counts
    assert c["calls"] == 2 and c["users"] == 2
    assert c["candidates"] == c["passed"] + sum(c[k] for k in ("empty", "necessity", "duplicate", "ungrounded", "over_cap"))
    assert outcome.usage["completion_tokens"] > 0
    for row in outcome.table.to_pylist():
        assert row["user_id"] in contexts and row["stage"] in ("listed", "extended") and row["interest"]


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
    checks = ("empty", "shape", "vague", "brand", "history_copy", "duplicate")
    assert c["candidates"] == c["passed"] + sum(c[k] for k in checks)
    for row in outcome.table.to_pylist():
        assert row["interest"] == "writing with pens" and row["category"] in phi.classes


def test_explanations_with_the_embedded_model(setup, tmp_path):
    from recgpt.stages.config import ExplanationsConfig
    from recgpt.stages.explanations import ExplanationTable, Pair, produce_explanations

    ds, _, _, runtime, vectors = setup
    item = ds.items.column("item_id")[0].as_py()
    pairs = [Pair("solving math homework", item), Pair("", item)]
    outcome = produce_explanations(pairs, ds.items, runtime, ExplanationsConfig(max_tokens=40), dt.date(2014, 6, 1))
    c = outcome.counts
    assert c["calls"] == 2 and c["pairs"] == 2
    assert c["candidates"] == c["calls"] - c["failed_calls"]
    assert c["candidates"] == sum(v for k, v in c.items() if k not in ("calls", "failed_calls", "cached_calls",
                                                                        "candidates", "pairs"))
    table = ExplanationTable(tmp_path / "e.sqlite", vectors=vectors)
    assert table.write(outcome.table) == outcome.table.num_rows
    table.close()
