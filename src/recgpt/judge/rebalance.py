"""Rebalanced judge training sets (report 3.1, "Data Rebalancing Strategy").

For one (task, criterion), the human verdicts of rounds 1..R form the pool; a verdict's class is its label.
Let R be the latest round, n_c the number of verdicts of class c in round R, and M = argmax_c n_c the
majority class of round R (ties broken by label name).

1. **Minority class augmentation.** Every other class c starts from its round-R verdicts and is topped up
   with its verdicts of earlier rounds, newest round first (and newest verdict first within a round), until
   it holds n_M verdicts or the rounds run out: m_c = min(n_M, sum_{r<=R} n_{c,r}).
2. **Target.** T = min(|pool_M|, ceil(majority_ratio * max_{c != M} m_c)).
3. **Recency-prioritised downsampling of the majority class.** The T majority verdicts are drawn from all
   rounds with a temporal decay: a verdict of round r weighs w_r = 0.5 ** ((R - r) / half_life_rounds).
   Round r gets the quota q_r = min(n_{M,r}, T * w_r n_{M,r} / sum_s w_s n_{M,s}), where rounds whose
   quota hits their size n_{M,r} hand the surplus to the others in proportion to the same weights
   (water-filling). Quotas are rounded down and the remaining slots go one by one to the largest fractional
   parts (ties to the more recent round). Within a round, the q_r most recent verdicts are kept.

With a single class there is nothing to balance: the round-R verdicts are returned. ``max_history_rounds``
limits the pool to the last rounds (rounds r with R - r < max_history_rounds).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from recgpt.judge.buffer import Verdict
from recgpt.judge.config import RebalanceConfig


@dataclass
class BalancedSet:
    """The verdicts chosen for one (task, criterion), with per-class counts before and after."""

    task: str
    criterion: str
    latest_round: int
    majority: str | None
    samples: list[Verdict] = field(default_factory=list)
    before: dict[str, int] = field(default_factory=dict)  # class -> count in round R
    after: dict[str, int] = field(default_factory=dict)   # class -> count in the balanced set


def _newest_first(verdicts: list[Verdict]) -> list[Verdict]:
    return sorted(verdicts, key=lambda v: (-v.round, -v.created_at))


def decay_quotas(sizes: dict[int, int], total: int, latest_round: int, half_life: float) -> dict[int, int]:
    """Integer quotas per round summing to min(total, sum(sizes)), by the decay-weighted water-filling above."""
    total = min(total, sum(sizes.values()))
    weight = {r: 0.5 ** ((latest_round - r) / half_life) * n for r, n in sizes.items() if n > 0}
    share: dict[int, float] = {}
    open_rounds, left = set(weight), float(total)
    while open_rounds:
        norm = sum(weight[r] for r in open_rounds)
        capped = {r for r in open_rounds if left * weight[r] / norm >= sizes[r]}
        if not capped:
            for r in open_rounds:
                share[r] = left * weight[r] / norm
            break
        for r in capped:
            share[r] = float(sizes[r])
            left -= sizes[r]
        open_rounds -= capped
    quotas = {r: min(sizes[r], math.floor(s + 1e-9)) for r, s in share.items()}
    remaining = total - sum(quotas.values())
    order = sorted(share, key=lambda r: (-(share[r] - quotas[r]), -r))
    for r in order:
        if remaining <= 0:
            break
        if quotas[r] < sizes[r]:
            quotas[r] += 1
            remaining -= 1
    return quotas


def rebalance(verdicts: list[Verdict], config: RebalanceConfig | None = None) -> BalancedSet:
    """Balanced training verdicts for one (task, criterion); ``verdicts`` are that pair's human verdicts."""
    config = config or RebalanceConfig()
    if not verdicts:
        raise ValueError("rebalance needs at least one verdict")
    pairs = {(v.task, v.criterion) for v in verdicts}
    if len(pairs) > 1:
        raise ValueError(f"rebalance works on one (task, criterion) at a time, got {sorted(pairs)}")
    task, criterion = next(iter(pairs))
    latest = max(v.round for v in verdicts)
    if config.max_history_rounds is not None:
        verdicts = [v for v in verdicts if latest - v.round < config.max_history_rounds]
    by_class: dict[str, list[Verdict]] = defaultdict(list)
    for v in verdicts:
        by_class[v.label].append(v)
    current = {c: sum(1 for v in vs if v.round == latest) for c, vs in by_class.items()}
    result = BalancedSet(task, criterion, latest, None, before={c: n for c, n in current.items() if n})
    present_now = [c for c in sorted(current) if current[c] > 0]
    if len(by_class) < 2 or not present_now:
        result.samples = [v for v in verdicts if v.round == latest]
        result.after = dict(result.before)
        return result
    majority = max(present_now, key=lambda c: (current[c], [-ord(ch) for ch in c]))
    result.majority = majority
    n_major = current[majority]
    chosen: list[Verdict] = []
    minority_sizes = []
    for c in sorted(by_class):
        if c == majority:
            continue
        picked = _newest_first(by_class[c])[:n_major]
        chosen.extend(picked)
        minority_sizes.append(len(picked))
    target = min(len(by_class[majority]), math.ceil(config.majority_ratio * max(minority_sizes)))
    rounds: dict[int, list[Verdict]] = defaultdict(list)
    for v in by_class[majority]:
        rounds[v.round].append(v)
    quotas = decay_quotas({r: len(vs) for r, vs in rounds.items()}, target, latest, config.half_life_rounds)
    for r, q in quotas.items():
        chosen.extend(sorted(rounds[r], key=lambda v: -v.created_at)[:q])
    result.samples = chosen
    counts: dict[str, int] = defaultdict(int)
    for v in chosen:
        counts[v.label] += 1
    result.after = dict(counts)
    return result


def rebalance_all(verdicts: list[Verdict], config: RebalanceConfig | None = None) -> list[BalancedSet]:
    """One balanced set per (task, criterion) present in ``verdicts`` (sorted by task, criterion)."""
    groups: dict[tuple[str, str], list[Verdict]] = defaultdict(list)
    for v in verdicts:
        groups[(v.task, v.criterion)].append(v)
    return [rebalance(groups[key], config) for key in sorted(groups)]
