"""Greedy decoding under a llama.cpp grammar that checks the grammar on one token first.

llama-cpp-python applies the grammar to the whole vocabulary (49,152 entries for SmolLM2) at every step
before taking the best token, which roughly doubles the time per generated token. Under greedy decoding the
answer is the same if we first take the unconstrained best token and ask the grammar about that one token
only; the whole vocabulary is filtered only when the grammar rejects it (the trick of llama.cpp's own
``common_sampler``). :func:`install` makes a ``Llama`` instance use this sampler whenever it is asked for
greedy decoding with a grammar and no other sampling option, and its usual sampler otherwise.
"""

from __future__ import annotations

import ctypes
import math

import numpy as np

_TOKEN_DATA = np.dtype([("id", np.intc), ("logit", np.float32), ("p", np.float32)], align=True)


class GreedyGrammarSampler:
    """Stands in for llama-cpp-python's ``LlamaSampler`` (``sample``, ``accept``, ``reset``, ``close``)."""

    def __init__(self, llama, grammar):
        import llama_cpp

        self._lib = llama_cpp
        self._n_vocab = llama.n_vocab()
        self._grammar = llama_cpp.llama_sampler_init_grammar(
            llama._model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
        )
        if not self._grammar:
            raise ValueError("llama.cpp could not parse the grammar")
        self._one = (llama_cpp.llama_token_data * 1)()
        self._one_array = llama_cpp.llama_token_data_array(self._one, 1, -1, False)
        self._all = np.zeros(self._n_vocab, dtype=_TOKEN_DATA)
        self._all["id"] = np.arange(self._n_vocab, dtype=np.intc)
        self._all_array = llama_cpp.llama_token_data_array(
            self._all.ctypes.data_as(ctypes.POINTER(llama_cpp.llama_token_data)), self._n_vocab, -1, False
        )

    def sample(self, ctx, idx: int = -1) -> int:
        lib = self._lib
        logits = np.ctypeslib.as_array(lib.llama_get_logits_ith(ctx.ctx, idx), shape=(self._n_vocab,))
        token = int(logits.argmax())
        self._one[0].id, self._one[0].logit, self._one[0].p = token, float(logits[token]), 0.0
        self._one_array.size, self._one_array.selected = 1, -1
        lib.llama_sampler_apply(self._grammar, ctypes.byref(self._one_array))
        if math.isinf(self._one[0].logit) and self._one[0].logit < 0:  # rejected: filter the whole vocabulary
            self._all["logit"] = logits
            self._all_array.size, self._all_array.selected, self._all_array.sorted = self._n_vocab, -1, False
            lib.llama_sampler_apply(self._grammar, ctypes.byref(self._all_array))
            token = int(self._all["id"][: self._all_array.size][self._all["logit"][: self._all_array.size].argmax()])
        lib.llama_sampler_accept(self._grammar, token)
        return token

    def accept(self, token: int) -> None:
        """Tokens are accepted inside :meth:`sample`, like llama.cpp's sampler chains do."""

    def reset(self) -> None:
        self._lib.llama_sampler_reset(self._grammar)

    def close(self) -> None:
        if self._grammar:
            self._lib.llama_sampler_free(self._grammar)
            self._grammar = None

    def __del__(self) -> None:
        self.close()


def install(llama) -> None:
    """Make ``llama`` (a ``llama_cpp.Llama``) use :class:`GreedyGrammarSampler` when it applies."""
    original = llama._init_sampler

    def init_sampler(**kwargs):
        grammar = kwargs.get("grammar")
        plain = (
            kwargs.get("temp", 0.8) == 0.0 and kwargs.get("repeat_penalty", 1.0) == 1.0
            and kwargs.get("frequency_penalty", 0.0) == 0.0 and kwargs.get("presence_penalty", 0.0) == 0.0
            and kwargs.get("logits_processor") is None and kwargs.get("mirostat_mode", 0) == 0
        )
        if grammar is not None and plain:
            return GreedyGrammarSampler(llama, grammar)
        return original(**kwargs)

    llama._init_sampler = init_sampler
