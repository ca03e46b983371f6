"""Rebalancing of judge training data against hand-computed expectations (formulas in rebalance.py)."""

from judge_helpers import verdict

from recgpt.judge.rebalance import RebalanceConfig, decay_quotas, rebalance, rebalance_all


def test_decay_quotas_split_by_weighted_size():
    # weights: round 2 -> 1 * 8 = 8, round 1 -> 0.5 * 10 = 5; shares 6*8/13 = 3.69, 6*5/13 = 2.31
    # floors 3 + 2 = 5, the last slot goes to the larger remainder (round 2)
    assert decay_quotas({2: 8, 1: 10}, 6, latest_round=2, half_life=1.0) == {2: 4, 1: 2}


def test_decay_quotas_longer_half_life_gives_old_rounds_more():
    # round 1 weight 0.5 ** 0.5 = 0.7071 -> 7.071; shares 3.185 and 2.815; floors 3 + 2, remainder to round 1
    assert decay_quotas({2: 8, 1: 10}, 6, latest_round=2, half_life=2.0) == {2: 3, 1: 3}


def test_decay_quotas_water_filling_when_a_round_is_too_small():
    # round 3 share 8 * 2 / 7 = 2.29 >= its size 2 -> capped at 2; the other 6 go to round 2
    assert decay_quotas({3: 2, 2: 10}, 8, latest_round=3, half_life=1.0) == {3: 2, 2: 6}
    assert decay_quotas({3: 2, 2: 3}, 50, latest_round=3, half_life=1.0) == {3: 2, 2: 3}


def _pool():
    vs = [verdict("yes", 1, 100 + i) for i in range(10)] + [verdict("no", 1, 200 + i) for i in range(4)]
    vs += [verdict("yes", 2, 300 + i) for i in range(8)] + [verdict("no", 2, 400 + i) for i in range(2)]
    return vs


def test_minority_augmented_from_earlier_rounds_and_majority_downsampled_by_recency():
    out = rebalance(_pool())
    assert out.latest_round == 2 and out.majority == "yes"
    assert out.before == {"yes": 8, "no": 2}
    # minority "no": 2 of round 2 + all 4 of round 1 = 6 (< 8); target T = 6
    assert out.after == {"no": 6, "yes": 6}
    no_times = sorted(v.created_at for v in out.samples if v.label == "no")
    assert no_times == [200, 201, 202, 203, 400, 401]
    # majority quotas {2: 4, 1: 2}: the 4 newest of round 2 and the 2 newest of round 1
    yes_times = sorted(v.created_at for v in out.samples if v.label == "yes")
    assert yes_times == [108, 109, 304, 305, 306, 307]


def test_minority_capped_at_current_majority_and_history_window():
    vs = [verdict("yes", 3, 500 + i) for i in range(3)] + [verdict("no", 3, 600)]
    vs += [verdict("no", 2, 450 + i) for i in range(5)] + [verdict("no", 1, 50 + i) for i in range(5)]
    out = rebalance(vs)
    # "no" is topped up to n_yes = 3: the round-3 one plus the two newest of round 2
    assert sorted(v.created_at for v in out.samples if v.label == "no") == [453, 454, 600]
    assert out.after == {"yes": 3, "no": 3}
    windowed = rebalance(vs, RebalanceConfig(max_history_rounds=1))
    assert windowed.after == {"yes": 1, "no": 1}  # only round 3: minority 1 -> T = 1, newest yes kept
    assert [v.created_at for v in windowed.samples if v.label == "yes"] == [502]


def test_majority_ratio_and_three_levels():
    vs = [verdict("good", 1, i) for i in range(9)] + [verdict("bad", 1, 20 + i) for i in range(2)]
    vs += [verdict("excellent", 1, 40 + i) for i in range(3)]
    out = rebalance(vs, RebalanceConfig(majority_ratio=2.0))
    # one round: minorities keep 2 and 3; T = ceil(2.0 * 3) = 6 newest "good"
    assert out.after == {"bad": 2, "excellent": 3, "good": 6}
    assert sorted(v.created_at for v in out.samples if v.label == "good") == [3, 4, 5, 6, 7, 8]


def test_single_class_is_returned_as_is_and_groups_split():
    only = [verdict("yes", 1, i) for i in range(3)] + [verdict("yes", 2, 10)]
    assert [v.created_at for v in rebalance(only).samples] == [10]
    mixed = only + [verdict("no", 1, 5, criterion="validity")]
    assert [(s.task, s.criterion) for s in rebalance_all(mixed)] == [("tags", "relevance"), ("tags", "validity")]
