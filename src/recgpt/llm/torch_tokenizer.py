"""Tokenizers of GGUF models made to split text exactly as llama.cpp does.

transformers rebuilds a fast tokenizer from the vocabulary and merges stored in a GGUF file, and chooses the
pre-tokenizer (how text is cut into words before BPE) from the file's ``tokenizer.ggml.pre`` name. Names it
does not know get plain GPT-2 byte-level splitting. SmolLM2's GGUF says ``smollm``, which llama.cpp reads as
"every digit alone, then GPT-2's rule" (the original SmolLM2 ``tokenizer.json`` does the same); with plain
GPT-2 splitting a run of spaces, tabs or newlines before a digit and a space before characters such as
``½`` or ``١`` were tokenized differently (171 of 5,431 test strings, mostly random ones; no plain English
sentence). :data:`PRE_TOKENIZERS` holds the rules for such names and :func:`match_llama_cpp_splitting`
applies them; with the ``smollm`` rule all 5,431 strings give llama.cpp's token ids.
"""

from __future__ import annotations

from typing import Callable

from tokenizers import pre_tokenizers

PRE_TOKENIZERS: dict[str, Callable[[], pre_tokenizers.PreTokenizer]] = {
    "smollm": lambda: pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
        ]
    ),
}


def gguf_pre_tokenizer_name(gguf_path: str) -> str | None:
    """The ``tokenizer.ggml.pre`` value of a GGUF file (e.g. ``"smollm"``), or None when it has none.
    Reads the metadata only (about 2 s for a 49k-token vocabulary: the strings are parsed)."""
    from gguf import GGUFReader

    field = GGUFReader(gguf_path).fields.get("tokenizer.ggml.pre")
    return None if field is None else str(field.contents())


def match_llama_cpp_splitting(tokenizer, pre_tokenizer_name: str | None) -> bool:
    """Give ``tokenizer`` (a transformers fast tokenizer) llama.cpp's pre-tokenizer for
    ``pre_tokenizer_name`` when transformers lacks it. Returns True when the tokenizer was changed."""
    build = PRE_TOKENIZERS.get(pre_tokenizer_name or "")
    if build is None:
        return False
    tokenizer.backend_tokenizer.pre_tokenizer = build()
    return True
