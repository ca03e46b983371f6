"""The attention function of the torch engine: transformers' ``sdpa``, minus its slow decode path on CPU.

When a decode step has no padding mask, transformers calls PyTorch's ``scaled_dot_product_attention``
with ``enable_gqa=True`` (keys and values shared by groups of query heads). On CPU that kernel is 5 to 8
times slower than the same attention with the query heads of a group stacked as rows of one head
("packed"): measured with 1 thread, 9 query and 3 key/value heads, 1,000 cached positions: 0.81 against
0.11 ms at batch 1, 27.6 against 5.2 ms at batch 32. It hit every step of a lone row (and of any batch
whose rows all have the same length). :func:`packed_sdpa_attention` always packs single-token queries and
hands everything else (prefill) to transformers' ``sdpa_attention_forward`` unchanged.
"""

from __future__ import annotations

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

ATTENTION_NAME = "recgpt_packed_sdpa"


def packed_sdpa_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """transformers attention function. ``query`` (B, H, Q, D), ``key``/``value`` (B, KVH, T, D),
    ``attention_mask`` bool (B, 1, Q, T) or None. Returns (B, Q, H, D)."""
    batch, heads, q_len, dim = query.shape
    kv_heads = key.shape[1]
    if q_len != 1 or heads == kv_heads:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, is_causal=is_causal, **kwargs)
    packed = query.reshape(batch, kv_heads, heads // kv_heads, dim)  # a group's heads become rows
    out = torch.nn.functional.scaled_dot_product_attention(packed, key, value, attn_mask=attention_mask, scale=scaling)
    return out.reshape(batch, heads, 1, dim).transpose(1, 2), None


def register() -> str:
    """Make :func:`packed_sdpa_attention` (with sdpa's boolean masks) available to transformers as
    :data:`ATTENTION_NAME`; returns the name. Idempotent."""
    AttentionInterface.register(ATTENTION_NAME, packed_sdpa_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(ATTENTION_NAME, sdpa_mask)
    return ATTENTION_NAME
