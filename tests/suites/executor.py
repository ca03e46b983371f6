"""The contract every registered executor passes: the LLM calls it runs give the scripted answers in request
order, land in the runtime's SQLite cache and usage log, are not asked again on a rerun (failed ones are),
and the batch retrieval job gives the saved model's own lists. A test class mixes in
:class:`ExecutorContract` and implements ``make_executor``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from executor_helpers import ScriptedEngine, expected_color, smoke_requests

from recgpt.llm.cache import AnswerCache
from recgpt.llm.config import LLMConfig
from recgpt.llm.runtime import LLMRuntime

ITEMS = ["lemon", "sky", "coal", "grass", "snow", "rose", "plum", "sea", "sand", "ink"]


class ExecutorContract:
    def make_executor(self, folder, engine: ScriptedEngine, **options):
        """An executor of the class under test whose LLM work is answered by ``engine``."""
        raise NotImplementedError

    @pytest.fixture
    def runtime_for(self, tmp_path):
        """``runtime_for(engine, name="run", **executor_options)``: a runtime over RUN=tmp_path/name."""
        made = []

        def make(engine: ScriptedEngine, name: str = "run", **options):
            config = LLMConfig(backend="fake", progress=False, backoff_s=0.0, structured_retries=1,
                               options={"fake": {"answers": ["never asked in this process"]}})
            folder = tmp_path / name
            runtime = LLMRuntime(config, cache_path=folder / "cache.sqlite", usage_path=folder / "usage.jsonl",
                                 backend=engine(config), executor=self.make_executor(folder, engine, **options))
            made.append(runtime)
            return runtime

        yield make
        for runtime in made:
            runtime.close()

    def test_answers_are_the_scripted_ones_in_request_order(self, runtime_for, tmp_path):
        engine = ScriptedEngine(str(tmp_path / "calls.log"))
        items = ITEMS + ["lemon"]  # a repeated prompt is asked once and shares its answer
        results = runtime_for(engine, block_size=3).run_batch(smoke_requests(items))
        assert [r.key for r in results] == [f"key-{i}-{item}" for i, item in enumerate(items)]
        assert [r.value.color for r in results] == [expected_color(item) for item in items]
        assert all(r.ok and not r.cached for r in results[:-1]) and results[-1].cached
        assert sorted(engine.calls()) == sorted(ITEMS)

    def test_grouped_engines_answer_the_same(self, runtime_for, tmp_path):
        engine = ScriptedEngine(str(tmp_path / "calls.log"), batch_size=4)
        results = runtime_for(engine, block_size=5).run_batch(smoke_requests(ITEMS))
        assert [r.value.color for r in results] == [expected_color(item) for item in ITEMS]

    def test_answers_are_cached_logged_and_a_rerun_makes_no_call(self, runtime_for, tmp_path):
        engine = ScriptedEngine(str(tmp_path / "calls.log"))
        runtime_for(engine, block_size=4).run_batch(smoke_requests(ITEMS))
        cache = AnswerCache(tmp_path / "run" / "cache.sqlite")
        assert len(cache) == len(ITEMS)
        cache.close()
        again = runtime_for(engine, block_size=4).run_batch(smoke_requests(ITEMS))
        assert all(r.cached and r.ok for r in again)
        assert len(engine.calls()) == len(ITEMS)
        lines = [json.loads(line) for line in (tmp_path / "run" / "usage.jsonl").read_text().splitlines()]
        assert len(lines) == 2 * len(ITEMS)
        assert sum(not line["cached"] for line in lines) == len(ITEMS)
        assert all(line["backend"] == "fake.v1" for line in lines)

    def test_a_failed_call_is_a_result_and_only_it_is_asked_again(self, runtime_for, tmp_path):
        engine = ScriptedEngine(str(tmp_path / "calls.log"))
        items = ["broken pen", *ITEMS[:5]]
        first = runtime_for(engine, block_size=2).run_batch(smoke_requests(items))
        assert not first[0].ok and "invalid answer" in first[0].error and first[0].attempts == 2
        assert all(r.ok for r in first[1:])
        runtime_for(engine, block_size=2).run_batch(smoke_requests(items))
        assert engine.calls().count("broken pen") == 4 and len(engine.calls()) == 4 + 5

    def test_batch_retrieval_gives_the_saved_models_own_lists(self, saved_retriever, tmp_path):
        from recgpt.retrieval.saved import load_model

        folder, users, tags = saved_retriever
        executor = self.make_executor(tmp_path, None, retrieval_batch_size=7)
        try:
            got = executor.recommend_users(folder, users, 8, tags=tags, beta=0.5)
        finally:
            executor.close()
        want = load_model(folder).recommend(users, 8, tags=tags, beta=0.5)
        assert list(got.user_ids) == users
        assert got.item_ids.shape == (len(users), 8)
        assert (got.item_ids == want.item_ids).all() and (got.item_index == want.item_index).all()
        np.testing.assert_array_equal(got.scores, want.scores)


@pytest.fixture(scope="session")
def saved_retriever(tmp_path_factory):
    """A small TAR trained on the planted data and saved with an exact index; every planted user plus one
    unknown, and LLM tags for a few users."""
    from recgpt.retrieval.config import TARConfig
    from recgpt.retrieval.index import IndexedRecommender
    from recgpt.retrieval.synthetic import PLANTED_TAR_SETTINGS, planted_dataset
    from recgpt.retrieval.tar import TARRecommender

    dataset = planted_dataset()
    model = TARRecommender(TARConfig(**PLANTED_TAR_SETTINGS)).fit(dataset, "test")
    folder = tmp_path_factory.mktemp("retriever") / "tar"
    IndexedRecommender(model, "exact").save(folder)
    users = sorted(dataset.users.column("user_id").to_pylist()) + ["nobody"]
    tags = {users[0]: ["violet pen"], users[5]: ["red stapler", "blue folder"]}
    return str(folder), users, tags
