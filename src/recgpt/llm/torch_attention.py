"""Attention and KV cache of the torch engine, tuned for small models on a few CPU cores.

Measured on 2 Sapphire Rapids cores (bf16, SmolLM2-135M, batch 32, 600-token prompts), PyTorch's CPU
``scaled_dot_product_attention`` kernel ran at about 12 GFLOP/s in prefill and took 10 ms per layer per
decode step, and transformers' ``DynamicCache`` copied the whole cache at every step (``torch.cat``): the
two took over 90% of the decode time. This module replaces both:

- :func:`cpu_attention`: plain batched matrix products (which oneDNN runs on AMX in bf16) with the query
  heads of one key/value head grouped together, so keys and values are never repeated; softmax in fp32.
  Prefill is computed a few rows at a time so the score matrix stays under ``PREFILL_SCORE_BYTES``.
- :class:`PreallocatedLayer`: a KV cache layer that writes into a buffer sized once for the whole
  generation and hands out views, so no step copies the cache.

:func:`register` makes the attention available to transformers under :data:`ATTENTION_NAME`.
"""

from __future__ import annotations

import torch
from transformers import AttentionInterface, DynamicCache
from transformers.cache_utils import DynamicLayer
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

ATTENTION_NAME = "recgpt_cpu"
PREFILL_SCORE_BYTES = 256 * 2**20


def _scores_to_probs(scores: torch.Tensor, allowed: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor:
    """Masked softmax in fp32. A fully masked row (a padding query) gets uniform weights instead of NaN."""
    if allowed is not None:
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=-1).to(dtype)


def cpu_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """transformers attention function. ``query`` (B, H, Q, D), ``key``/``value`` (B, KVH, T, D) with H a
    multiple of KVH, ``attention_mask`` bool (B, 1, Q, T), True = may attend (or None: causal when Q > 1,
    everything when Q == 1). Returns (B, Q, H, D)."""
    batch, heads, q_len, dim = query.shape
    kv_heads, kv_len = key.shape[1], key.shape[2]
    group = heads // kv_heads
    scale = scaling if scaling is not None else dim**-0.5
    if attention_mask is not None:
        attention_mask = attention_mask[..., -kv_len:]
    elif q_len > 1:
        attention_mask = torch.ones(q_len, kv_len, dtype=torch.bool, device=query.device).tril(kv_len - q_len)
        attention_mask = attention_mask.expand(batch, 1, q_len, kv_len)
    # (B, H, Q, D) -> (B, KVH, group*Q, D): the query heads sharing a key/value head become extra rows
    grouped = query.reshape(batch, kv_heads, group * q_len, dim)
    out = torch.empty(batch, kv_heads, group * q_len, dim, dtype=query.dtype, device=query.device)
    rows_per_chunk = max(1, PREFILL_SCORE_BYTES // (heads * q_len * kv_len * 4))
    for start in range(0, batch, rows_per_chunk):
        rows = slice(start, start + rows_per_chunk)
        scores = torch.matmul(grouped[rows], key[rows].transpose(-1, -2)).float().mul_(scale)
        n = scores.shape[0]
        allowed = None
        if attention_mask is not None:  # (n, 1, Q, T) -> (n, 1, 1, Q, T) against (n, KVH, group, Q, T)
            allowed = attention_mask[rows].unsqueeze(1)
            scores = scores.view(n, kv_heads, group, q_len, kv_len)
        probs = _scores_to_probs(scores, allowed, value.dtype).view(n, kv_heads, group * q_len, kv_len)
        torch.matmul(probs, value[rows], out=out[rows])
    return out.view(batch, heads, q_len, dim).transpose(1, 2), None


class PreallocatedLayer(DynamicLayer):
    """A KV cache layer over a buffer of ``capacity`` positions allocated on first use; ``update`` writes the
    new positions in place and returns views of the filled part (B, KVH, length, D)."""

    def __init__(self, capacity: int):
        super().__init__()
        self.capacity = capacity
        self.length = 0

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.dtype, self.device = key_states.dtype, key_states.device
        batch, kv_heads, _, dim = key_states.shape
        self._keys = torch.empty(batch, kv_heads, self.capacity, dim, dtype=self.dtype, device=self.device)
        self._values = torch.empty(batch, kv_heads, self.capacity, value_states.shape[-1], dtype=self.dtype,
                                   device=self.device)
        self.is_initialized = True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.shape[-2]
        if end > self.capacity:
            raise RuntimeError(f"KV cache overflow: {end} positions for a capacity of {self.capacity}")
        self._keys[:, :, self.length:end] = key_states
        self._values[:, :, self.length:end] = value_states
        self.length = end
        self.keys, self.values = self._keys[:, :, :end], self._values[:, :, :end]
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep only the rows ``indices`` (finished rows leave the batch); copies the buffers once."""
        if self.is_initialized:
            self._keys, self._values = self._keys[indices], self._values[indices]
            self.keys, self.values = self._keys[:, :, : self.length], self._values[:, :, : self.length]

    def reset(self) -> None:
        self.length = 0
        self.is_initialized = False
        self._keys = self._values = self.keys = self.values = None


def preallocated_cache(config, capacity: int) -> DynamicCache:
    """A ``DynamicCache`` whose layers are :class:`PreallocatedLayer` of ``capacity`` positions."""
    cache = DynamicCache(config=config)
    cache.layers = [PreallocatedLayer(capacity) for _ in range(config.num_hidden_layers)]
    return cache


def register() -> str:
    """Register :func:`cpu_attention` (with sdpa's boolean masks) with transformers; returns its name."""
    AttentionInterface.register(ATTENTION_NAME, cpu_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(ATTENTION_NAME, sdpa_mask)
    return ATTENTION_NAME
