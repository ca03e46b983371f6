"""The contract every registered retriever passes (in the spirit of implicit's ``RecommenderBaseTestMixin``).

A test class mixes in :class:`RetrieverContract` and defines ``build()`` (a new, unfitted retriever). The suite
fits it once per class on the planted data set, whose right answer is known: each user's remaining items of
their own cluster.
"""

from __future__ import annotations

import numpy as np
import pytest

from recgpt.retrieval.base import Recommendations, Recommender
from recgpt.retrieval.saved import load_model


class RetrieverContract:
    #: Whether the retriever personalises (every one but popularity): then the planted answer must come back.
    personalised = True

    def build(self):
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, planted):
        return cls().build().fit(planted, "test")

    def test_recommendations_have_documented_shapes(self, fitted, planted):
        assert isinstance(fitted, Recommender)
        users = ["u0_0", "u1_3", "u3_11"]
        recs = fitted.recommend(users, k=5)
        assert isinstance(recs, Recommendations)
        assert recs.item_ids.shape == recs.scores.shape == recs.item_index.shape == (3, 5)
        assert list(recs.user_ids) == users
        assert np.all(np.diff(recs.scores, axis=1) <= 1e-6), "scores not sorted best first"
        catalog = set(planted.items.column("item_id").to_pylist())
        assert all(i in catalog for i in recs.item_ids.ravel())

    def test_history_is_excluded_and_lists_have_no_duplicates(self, fitted, planted):
        history = planted.history("test").to_pylist()
        recs = fitted.recommend(["u2_5", "u0_1"], k=20)
        for user, row in zip(recs.user_ids, recs.item_ids):
            seen = {r["item_id"] for r in history if r["user_id"] == user}
            filled = [i for i in row if i]
            assert not seen & set(filled), f"recommended history items to {user}"
            assert len(filled) == len(set(filled))
            assert len(filled) == min(20, 40 - len(seen))

    def test_switching_history_changes_the_exclusions(self, fitted, planted):
        dev_item = {r["user_id"]: r["item_id"] for r in planted.holdout.to_pylist() if r["fold"] == "dev"}
        try:
            fitted.use_history(planted, "dev")
            recs_dev = fitted.recommend(["u1_1"], k=40)
        finally:
            fitted.use_history(planted, "test")
        recs_test = fitted.recommend(["u1_1"], k=40)
        assert dev_item["u1_1"] in set(recs_dev.item_ids[0])
        assert dev_item["u1_1"] not in set(recs_test.item_ids[0])

    def test_unknown_user_gets_a_full_list(self, fitted):
        recs = fitted.recommend(["never-seen"], k=5)
        assert all(recs.item_ids[0] != "")

    def test_a_batch_equals_one_user_at_a_time(self, fitted):
        users = ["u0_0", "u1_3", "u2_7", "u3_11", "never-seen"]
        batch = fitted.recommend(users, k=6)
        for row, user in enumerate(users):
            alone = fitted.recommend([user], k=6)
            assert list(alone.item_ids[0]) == list(batch.item_ids[row]), user
            np.testing.assert_allclose(alone.scores[0], batch.scores[row], rtol=1e-5, atol=1e-5)

    def test_save_and_load_give_the_same_recommendations(self, fitted, tmp_path):
        users = ["u0_0", "u1_3", "u2_7", "never-seen"]
        fitted.save(tmp_path / "model")
        loaded = load_model(tmp_path / "model")
        assert type(loaded) is type(fitted)
        before, after = fitted.recommend(users, k=8), loaded.recommend(users, k=8)
        assert (before.item_ids == after.item_ids).all()
        np.testing.assert_allclose(before.scores, after.scores, rtol=1e-5, atol=1e-5)

    def test_planted_answer_comes_back(self, fitted, planted):
        """Personalised retrievers put the held-out test item among the user's 3 unseen cluster items;
        popularity recommends the most bought item the user does not have yet."""
        test_item = {r["user_id"]: r["item_id"] for r in planted.holdout.to_pylist() if r["fold"] == "test"}
        users = sorted(test_item)
        recs = fitted.recommend(users, k=3)
        if self.personalised:
            hits = np.mean([test_item[u] in set(row) for u, row in zip(users, recs.item_ids)])
            assert hits >= 0.95, f"planted item in top 3 for only {hits:.0%} of users"
            same_cluster = np.mean([i.split("_")[0][1:] == u.split("_")[0][1:]
                                    for u, row in zip(users, recs.item_ids) for i in row])
            assert same_cluster >= 0.95
        else:
            counts: dict[str, int] = {}
            for r in planted.events.to_pylist():
                counts[r["item_id"]] = counts.get(r["item_id"], 0) + 1
            seen = {r["item_id"] for r in planted.history("test").to_pylist() if r["user_id"] == users[0]}
            assert recs.item_ids[0][0] == max((i for i in counts if i not in seen), key=lambda i: counts[i])
