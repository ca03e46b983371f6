"""The store of prefilled prompts: longest shared prefix, at least one token left to compute, a memory budget."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from recgpt.llm.torch_prefix_cache import MIN_SHARED, PrefixStore  # noqa: E402


def layers(n: int, layers: int = 2) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Keys and values (1 head, n positions, dim 4): position p holds the number p."""
    kv = torch.arange(n, dtype=torch.float32).view(1, n, 1).expand(1, n, 4).contiguous()
    return [(kv, kv.clone()) for _ in range(layers)]


def test_longest_shared_prefix_wins():
    store = PrefixStore(1 << 20)
    base = list(range(100))
    store.add(base[:40] + [999] * 10, layers(50))
    store.add(base[:70], layers(70))
    shared, found = store.longest(base[:90])
    assert shared == 70 and found[0][0].shape[1] == 70
    assert store.longest(base[:30] + [5] * 10)[0] == 30
    assert store.reused_tokens == 70 + 30


def test_a_whole_stored_prompt_still_leaves_its_last_token():
    store = PrefixStore(1 << 20)
    store.add(list(range(50)), layers(50))
    assert store.longest(list(range(50)))[0] == 49  # the last token's logits must be computed


def test_short_prefixes_are_not_reused():
    store = PrefixStore(1 << 20)
    store.add(list(range(50)), layers(50))
    assert store.longest(list(range(MIN_SHARED - 1)) + [777] * 20) == (0, None)
    assert store.reused_tokens == 0


def test_least_recently_used_prompts_leave_first_within_the_budget():
    one = sum(k.nbytes + v.nbytes for k, v in layers(40))
    store = PrefixStore(2 * one)
    a, b, c = ([i] * 40 for i in (1, 2, 3))
    store.add(a, layers(40))
    store.add(b, layers(40))
    assert store.longest(a + [0])[0] == 40  # a is now the most recently used
    store.add(c, layers(40))
    assert len(store) == 2 and store.nbytes == 2 * one
    assert store.longest(b + [0]) == (0, None) and store.longest(a + [0])[0] == 40


def test_a_zero_budget_keeps_nothing():
    store = PrefixStore(0)
    store.add(list(range(50)), layers(50))
    assert len(store) == 0 and store.longest(list(range(60))) == (0, None)
