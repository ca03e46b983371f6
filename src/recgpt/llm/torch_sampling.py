"""Token choice of the torch engine: greedy, or seeded sampling with llama-cpp-python's default chain.

``DecodingParams`` carries only ``temperature`` and ``seed``; the other knobs are the defaults
llama-cpp-python applies in ``create_chat_completion`` (top-k 40, top-p 0.95, min-p 0.05, in that order,
then temperature), so both in-process backends sample from the same distribution. Each row draws from its
own ``torch.Generator`` seeded with its own seed: a row's answer does not depend on the rows it is batched
with.
"""

from __future__ import annotations

import random

import torch

TOP_K = 40
TOP_P = 0.95
MIN_P = 0.05


def row_generator(seed: int | None) -> torch.Generator:
    """A CPU generator seeded with ``seed`` (a random seed when None)."""
    generator = torch.Generator()
    generator.manual_seed(seed if seed is not None else random.SystemRandom().randrange(2**63))
    return generator


def sample_token(logits: torch.Tensor, temperature: float, generator: torch.Generator) -> int:
    """One token id from ``logits`` (V,) (float32; forbidden tokens at -inf) at ``temperature`` > 0."""
    top_logits, top_ids = torch.topk(logits, min(TOP_K, logits.shape[0]))  # sorted, best first
    allowed = torch.isfinite(top_logits)
    if not bool(allowed[0]):  # nothing allowed at all (cannot happen under a live grammar)
        return int(top_ids[0])
    top_logits, top_ids = top_logits[allowed], top_ids[allowed]
    probs = torch.softmax(top_logits, dim=0)
    keep = int((torch.cumsum(probs, 0) - probs < TOP_P).sum())  # smallest prefix reaching TOP_P
    keep = max(1, min(keep, int((probs >= MIN_P * probs[0]).sum())))
    scaled = torch.softmax(top_logits[:keep] / temperature, dim=0)
    return int(top_ids[torch.multinomial(scaled, 1, generator=generator)])
