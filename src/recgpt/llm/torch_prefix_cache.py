"""Reuse of computed prompt prefixes: the keys and values of prompts already prefilled, kept within a
memory budget, so that a prompt sharing its first tokens with one of them prefills only the rest.

Prompts of one stage share a lot: the chat template's system turn and the task's instructions in every
call, and a user's whole history in each of that user's calls (one tag call per interest). A causal
model's keys and values at a position depend only on the tokens up to it, so those of a shared prefix
are the same whichever prompt computed them.

    store = PrefixStore(max_bytes=1 << 30)
    reused, layers = store.longest(prompt_ids)   # layers[i] = (keys, values) (KVH, n, D), n >= reused
    ...prefill prompt_ids[reused:] after them...
    store.add(prompt_ids, [(keys, values) per layer])
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

#: A shared prefix shorter than this is recomputed (copying it costs about as much).
MIN_SHARED = 16


@dataclass
class StoredPrompt:
    """One prefilled prompt: its token ids and, per layer, its keys and values (KVH, n, D)."""

    ids: np.ndarray
    layers: list[tuple[torch.Tensor, torch.Tensor]]
    nbytes: int


class PrefixStore:
    """Prefilled prompts, least recently used dropped first once they hold more than ``max_bytes``."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._prompts: OrderedDict[int, StoredPrompt] = OrderedDict()
        self._next = 0
        self.reused_tokens = 0  # prompt tokens not computed, over the store's life

    def __len__(self) -> int:
        return len(self._prompts)

    def longest(self, ids: list[int]) -> tuple[int, list[tuple[torch.Tensor, torch.Tensor]] | None]:
        """The longest stored prefix of ``ids`` that leaves at least one token to compute (the prompt's
        last logits come from that token): ``(length, layers)``, or ``(0, None)`` below :data:`MIN_SHARED`."""
        query = np.asarray(ids, dtype=np.int64)
        best, best_key = 0, None
        for key, stored in self._prompts.items():
            n = min(len(query) - 1, len(stored.ids))
            if n <= best:
                continue
            differ = np.flatnonzero(stored.ids[:n] != query[:n])
            shared = int(differ[0]) if differ.size else n
            if shared > best:
                best, best_key = shared, key
        if best < MIN_SHARED or best_key is None:
            return 0, None
        self._prompts.move_to_end(best_key)
        self.reused_tokens += best
        return best, self._prompts[best_key].layers

    def add(self, ids: list[int], layers: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Keep ``ids``' keys and values (not copied: the caller must not write to them again)."""
        if self.max_bytes <= 0:
            return
        nbytes = sum(k.nbytes + v.nbytes for k, v in layers)
        if nbytes > self.max_bytes:
            return
        self._prompts[self._next] = StoredPrompt(np.asarray(ids, dtype=np.int64), layers, nbytes)
        self._next += 1
        self.nbytes += nbytes
        while self.nbytes > self.max_bytes:
            _, dropped = self._prompts.popitem(last=False)
            self.nbytes -= dropped.nbytes
