"""Metric functions against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recgpt.retrieval import metrics as M
from recgpt.retrieval.base import top_k_excluding

RANKED = np.array([[3, 1, 4, -1], [0, 2, 1, 3], [5, 4, 3, 2]])
TARGETS = np.array([4, 0, 9])


def test_recall_and_ndcg_by_hand():
    assert M.recall_at_k(RANKED, TARGETS, 1) == pytest.approx(1 / 3)
    assert M.recall_at_k(RANKED, TARGETS, 3) == pytest.approx(2 / 3)
    # user 0 hits at rank 2 (0-based): 1/log2(4) = 0.5; user 1 at rank 0: 1; user 2 misses
    assert M.ndcg_at_k(RANKED, TARGETS, 3) == pytest.approx((0.5 + 1.0) / 3)
    assert M.ndcg_at_k(RANKED, TARGETS, 2) == pytest.approx(1 / 3)
    assert list(M.hit_ranks(RANKED, TARGETS)) == [2, 0, -1]


def test_categories_per_list():
    category = np.array([0, 0, 1, 1, 2, 2])
    # lists at k=2: {3,1} -> cats {1,0} = 2; {0,2} -> {0,1} = 2; {5,4} -> {2} = 1
    assert M.categories_per_list(RANKED, category, 2) == pytest.approx(5 / 3)
    # k=4 skips the -1 pad: {3,1,4} -> 3 cats; {0,2,1,3} -> 2; {5,4,3,2} -> 2
    assert M.categories_per_list(RANKED, category, 4) == pytest.approx(7 / 3)


def test_popularity_groups_long_tail_and_deciles():
    popularity = np.array([50, 40, 30, 20, 10, 5, 4, 3, 2, 1])
    assert M.head_items(popularity, 0.2).tolist() == [True, True] + [False] * 8
    assert M.popularity_deciles(popularity).tolist() == list(range(10))
    ranked = np.array([[0, 1, 2, 3], [0, 9, -1, -1]])
    # 6 filled slots; head items 0, 1 take 3 of them
    assert M.long_tail_share(ranked, popularity, 4) == pytest.approx(0.5)
    exposure = M.exposure_by_decile(ranked, popularity, 4)
    assert exposure.tolist() == pytest.approx([2 / 6, 1 / 6, 1 / 6, 1 / 6, 0, 0, 0, 0, 0, 1 / 6])
    assert exposure.sum() == pytest.approx(1.0)


def test_gini_of_exposure():
    equal = np.array([[0, 1], [2, 3]])
    assert M.exposure_gini(equal, 4, 2) == pytest.approx(0.0)
    # all 3 slots on item 0 of 4 items: counts (0,0,0,3), Gini = (n-1)/n = 0.75
    assert M.exposure_gini(np.array([[0], [0], [0]]), 4, 1) == pytest.approx(0.75)
    # counts (1, 3) over 2 items: mean abs difference / (2 mean) = (2*2/4) / (2*2) = 0.25
    assert M.exposure_gini(np.array([[0, 1], [1, -1], [1, -1]]), 2, 2) == pytest.approx(0.25)
    assert M.coverage(np.array([[0, 1], [1, -1]]), 4, 2) == pytest.approx(0.5)


def test_top_k_excluding_skips_history_and_pads():
    scores = np.array([[0.1, 0.9, 0.5, 0.3], [1.0, 2.0, 3.0, 4.0]])
    index, values = top_k_excluding(scores, 3, [np.array([1]), np.array([0, 1, 2])])
    assert index.tolist() == [[2, 3, 0], [3, -1, -1]]
    assert values[0].tolist() == pytest.approx([0.5, 0.3, 0.1])
    assert math.isinf(values[1, 1])
