"""The KV cache of the torch engine: one buffer per layer, sized once per batch, filled in place.

transformers' ``DynamicCache`` concatenates every layer's keys and values with the new position at each
step (``torch.cat``), copying the whole cache every token; profiled at batch 32 with 600-token prompts
(SmolLM2-135M, bf16, 2 Sapphire Rapids cores), the copies took 58% of a decode step. Measured side by
side in one session (a loaded machine: absolute times are inflated, the order held in every run), median
decode step at batch 32 after 600-token prompts: :class:`PreallocatedLayer` 752 ms, ``DynamicCache``
1,565 ms, transformers' ``StaticCache`` 1,866 ms (it attends over its whole capacity from the first step);
in fp32 1,488 / 2,011 / 2,562 ms. ``torch.compile(model, dynamic=True)`` took 173 s to compile and then
decoded slower than eager (1,177 against 858 ms per step), so it is not used. Attention stays PyTorch's
``scaled_dot_product_attention`` (:mod:`recgpt.llm.torch_attention`): a grouped-query attention written
with batched matrix products was slower in prefill (155 against 55 ms per layer at batch 8 x 600 tokens)
and in decode (2.4 against 1.9 ms per layer at batch 32 x 600).
"""

from __future__ import annotations

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


class PreallocatedLayer(DynamicLayer):
    """A KV cache layer over a buffer of ``capacity`` positions; ``update`` writes the new positions in
    place and returns views of the filled part (B, KVH, length, D). Rows are prefilled one by one with
    :meth:`write_prompt` (left-padded: a prompt ends at the same column in every row)."""

    def __init__(self, capacity: int):
        super().__init__()
        self.capacity = capacity
        self.length = 0

    def allocate(self, batch: int, kv_heads: int, dim: int, dtype: torch.dtype) -> None:
        self.dtype, self.device = dtype, torch.device("cpu")
        self._keys = torch.empty(batch, kv_heads, self.capacity, dim, dtype=dtype)
        self._values = torch.empty(batch, kv_heads, self.capacity, dim, dtype=dtype)
        self.is_initialized = True

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        batch, kv_heads, _, dim = key_states.shape
        self.allocate(batch, kv_heads, dim, key_states.dtype)

    def write_prompt(self, row: int, keys: torch.Tensor, values: torch.Tensor, end: int) -> None:
        """Store one row's prompt (KVH, n, D) in columns ``end - n`` to ``end``; the padding before it is
        zeroed (masked positions must hold finite numbers: 0 x NaN would still be NaN)."""
        start = end - keys.shape[-2]
        self._keys[row, :, start:end] = keys
        self._values[row, :, start:end] = values
        self._keys[row, :, :start] = 0
        self._values[row, :, :start] = 0

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.shape[-2]
        if end > self.capacity:
            raise RuntimeError(f"KV cache overflow: {end} positions for a capacity of {self.capacity}")
        self._keys[:, :, self.length:end] = key_states
        self._values[:, :, self.length:end] = value_states
        self.set_length(end)
        return self.keys, self.values

    def set_length(self, length: int) -> None:
        """Mark the first ``length`` positions as filled."""
        self.length = length
        self.keys, self.values = self._keys[:, :, :length], self._values[:, :, :length]

    def get_seq_length(self) -> int:
        return self.length

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep only the rows ``indices`` (finished rows leave the batch); copies the buffers once."""
        if self.is_initialized:
            self._keys, self._values = self._keys[indices], self._values[indices]
            self.set_length(self.length)

    def reset(self) -> None:
        self.length = 0
        self.is_initialized = False
        self._keys = self._values = self.keys = self.values = None


def preallocated_cache(config, capacity: int) -> DynamicCache:
    """A ``DynamicCache`` whose layers are :class:`PreallocatedLayer` of ``capacity`` positions."""
    cache = DynamicCache(config=config)
    cache.layers = [PreallocatedLayer(capacity) for _ in range(config.num_hidden_layers)]
    return cache
