"""The contract every registered vector index passes: inner-product search over item vectors of any norm,
as exact as its options promise, saved and loaded unchanged. A test class mixes in :class:`IndexContract`
and sets ``name`` and ``options``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recgpt import registry
from recgpt.config import ConfigError
from recgpt.retrieval.index import VectorIndex, make_index


class IndexContract:
    name = "exact"
    options: dict = {}

    @pytest.fixture(scope="class")
    @classmethod
    def vectors(cls):
        """300 items whose norms differ 50-fold, 20 queries."""
        rng = np.random.default_rng(0)
        items = (rng.normal(size=(300, 8)) * rng.uniform(0.1, 5.0, size=(300, 1))).astype(np.float32)
        return items, rng.normal(size=(20, 8)).astype(np.float32)

    @pytest.fixture(scope="class")
    @classmethod
    def index(cls, vectors):
        return make_index(cls.name, **cls.options).build(vectors[0])

    def test_results_are_the_inner_product_order_best_first(self, index, vectors):
        items, queries = vectors
        scores, ids = index.search(queries, 10)
        assert scores.shape == ids.shape == (20, 10) and ids.dtype.kind == "i"
        assert np.all(np.diff(scores, axis=1) <= 1e-4)
        exact = np.argsort(-(queries @ items.T), axis=1)[:, :10]
        assert np.mean([len(set(a) & set(e)) / 10 for a, e in zip(ids, exact)]) >= 0.95
        np.testing.assert_allclose(scores, np.take_along_axis(queries @ items.T, ids, 1), rtol=1e-4, atol=1e-3)

    def test_depth_beyond_the_catalog_is_clipped(self, index, vectors):
        scores, ids = index.search(vectors[1][:2], 1000)
        assert ids.shape[1] <= 300 and (ids < 300).all()

    def test_save_and_load_give_the_same_results_under_the_registered_name(self, index, vectors, tmp_path):
        index.save(tmp_path)
        assert json.loads((tmp_path / "index.json").read_text())["registry"] == registry.indexes.resolve(self.name)
        again = VectorIndex.load(tmp_path)
        assert type(again) is type(index)
        np.testing.assert_array_equal(again.search(vectors[1], 10)[1], index.search(vectors[1], 10)[1])

    def test_an_unknown_option_is_an_error_naming_it(self):
        with pytest.raises(ConfigError, match="no_such_option"):
            make_index(self.name, no_such_option=1)
