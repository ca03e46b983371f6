"""The contract every registered seral scorer passes (``registry.seral_scorers``).

A test class mixes in :class:`SeralScorerContract` and defines ``build(context)``; the suite scores pairs of
the tiny log (tests/seral_helpers.py) and checks the documented shape of the judgments.
"""

from __future__ import annotations

from recgpt import registry
from recgpt.seral.config import SeralConfig
from recgpt.seral.profiles import build_profiles
from recgpt.seral.runner import context_of


class SeralScorerContract:
    def build(self, context):
        raise NotImplementedError

    def setup(self, dataset, run=None):
        config = SeralConfig()
        context = context_of(run, dataset, config)
        profiles = build_profiles(dataset, "test", context.category, config.profile)
        pairs = [(p, item) for p in profiles for item in ("a1", "b1", "d1")]
        return self.build(context), pairs

    def test_one_judgment_per_pair_in_order_with_the_registered_name(self, tiny, tmp_path):
        scorer, pairs = self.setup(tiny)
        judgments = scorer.score(pairs)
        assert len(judgments) == len(pairs)
        for (profile, item), j in zip(pairs, judgments):
            assert (j.user_id, j.item_id, j.profile_version) == (profile.user_id, item, profile.version)
            assert j.scorer == scorer.name and scorer.name in registry.seral_scorers.names()
            assert 0.0 <= j.score <= 1.0 and j.verdict in ("yes", "no", "failed")

    def test_scoring_is_deterministic_and_an_empty_batch_is_empty(self, tiny):
        scorer, pairs = self.setup(tiny)
        assert scorer.score(pairs) == scorer.score(pairs)
        assert scorer.score([]) == []
