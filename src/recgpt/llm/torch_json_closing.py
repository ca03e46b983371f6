"""Closing mode: finishing a constrained JSON answer before its token budget runs out.

A 135M model writing a JSON list repeats items until ``max_tokens`` and its answer is cut off. In the last
:data:`CLOSING_WINDOW` tokens of a constrained row, the token the model picks is tried on a copy of the
row's grammar matcher: when the JSON could no longer be completed within the budget after it, the row
switches to closing mode and from then on takes :meth:`JsonCloser.closing_token`: the end of generation
when the grammar allows it; else the longest allowed token made only of ``"``, ``]`` and ``}``, one that
starts with ``"`` first (inside a string, ``]`` and ``}`` are mere characters); else the longest allowed
token (the text of a required key, say). Answers that end on their own are left untouched.

Trying a token costs a simulated closing (up to a few dozen grammar steps), so it is done only for tokens
that can change the structure (:attr:`JsonCloser.structural`: those containing one of ``"{}[],:``); after
any other token (words inside a string, digits) the last computed need is kept, with
:data:`NEED_MARGIN` tokens of slack. Bitmasks are read with numpy, word by word (about 1,500 int32 words
for a 49k vocabulary), which keeps one simulated step in the tens of microseconds.
"""

from __future__ import annotations

import numpy as np

#: Constrained rows are checked for room to close their JSON in this many last tokens of their budget.
CLOSING_WINDOW = 48
#: Slack kept over the last computed closing need when a token cannot change the JSON structure.
NEED_MARGIN = 2
CLOSING_BYTES = frozenset(b'"]}')
STRUCTURAL_BYTES = frozenset(b'"{}[],:')


def _word_mask(flags: np.ndarray) -> np.ndarray:
    """(V,) bool -> (ceil(V/32),) int32 bitmask in xgrammar's layout (bit j of word w is token 32w + j)."""
    padded = np.zeros(-(-flags.size // 32) * 32, dtype=np.uint8)
    padded[: flags.size] = flags
    return np.packbits(padded, bitorder="little").view(np.int32)


class JsonCloser:
    """The closing policy over one vocabulary: ``vocabulary`` is xgrammar's decoded vocabulary (bytes per
    token id), ``vocab_size`` the model's logits width, ``special`` token ids never chosen for content."""

    def __init__(self, vocabulary: list[bytes], vocab_size: int, stop_ids: list[int], special: set[int]):
        self.stop_ids = stop_ids
        ordinary = [i not in special for i in range(len(vocabulary))]
        lengths = np.zeros(vocab_size, dtype=np.int32)
        lengths[: len(vocabulary)] = [len(t) if ok else 0 for t, ok in zip(vocabulary, ordinary)]
        self.lengths = lengths
        closers = np.zeros(vocab_size, dtype=bool)
        quoted = np.zeros(vocab_size, dtype=bool)
        self.structural = np.zeros(vocab_size, dtype=bool)
        for i, (text, ok) in enumerate(zip(vocabulary, ordinary)):
            closers[i] = ok and bool(text) and set(text) <= CLOSING_BYTES
            quoted[i] = closers[i] and text[:1] == b'"'
            self.structural[i] = not ok or bool(set(text) & STRUCTURAL_BYTES)
        self._pools = (_word_mask(quoted), _word_mask(closers & ~quoted))

    def closing_token(self, words: np.ndarray) -> int:
        """The token that closes the JSON fastest among those allowed by ``words`` (one bitmask row)."""
        for stop in self.stop_ids:
            if (int(words[stop >> 5]) >> (stop & 31)) & 1:
                return stop
        for pool in (*self._pools, None):
            hit = words if pool is None else words & pool
            nonzero = np.flatnonzero(hit)
            if nonzero.size:
                break
        else:
            return self.stop_ids[0]  # nothing allowed at all: a dead grammar state
        bits = np.unpackbits(hit[nonzero].view(np.uint8).reshape(-1, 4), axis=1, bitorder="little")
        rows, cols = np.nonzero(bits)
        ids = nonzero[rows] * 32 + cols
        return int(ids[np.argmax(self.lengths[ids])])

    def closure_length(self, matcher, limit: int, scratch) -> int:
        """Tokens :meth:`closing_token` needs from ``matcher``'s state (left unchanged) until the JSON is
        complete; ``limit + 1`` when that takes more than ``limit``. ``scratch``: a 1-row bitmask tensor."""
        probe = matcher.fork()
        words = scratch[0].numpy()
        for used in range(limit + 1):
            probe.fill_next_token_bitmask(scratch, 0)
            token = self.closing_token(words)
            if token in self.stop_ids:
                return used
            probe.accept_token(token)
        return limit + 1

    def need_after(self, matcher, token: int, limit: int, scratch) -> int:
        """Closing need after ``token`` (``limit + 1`` when over ``limit`` or when the grammar refuses it)."""
        if token in self.stop_ids:
            return 0
        probe = matcher.fork()
        if not probe.accept_token(token):
            return limit + 1
        return self.closure_length(probe, limit, scratch)
