"""Post-checks of explanations that need no LLM (report Table 6, Appendix B prohibitions).

``check_explanation(text, title, config, personal_terms)`` -> the first failed check or None:

* ``empty``;
* ``example_copy``: a near-copy of the example answer the prompt shows (:data:`PROMPT_EXAMPLE`): SmolLM2-135M
  answered 149 of 240 demo calls with the example verbatim, and nothing else caught it;
* ``length``: fewer than ``min_words`` or more than ``max_words`` words (4 to 12 by default);
* ``filler``: a generic filler or hard-sell word ("practical", "versatile", "must-have", "offer", ...);
* ``personal_data``: an e-mail address, a phone number, a street address, or one of ``personal_terms``
  (names, places and other values from the user's input);
* ``title_copy``: a near-copy of the item title (most of its content words are the title's, or the
  character-level similarity is high);
* ``repetition``: a word used three times or more ("Bag bag good bag buy bag good").
"""

from __future__ import annotations

import re
from collections import Counter
from difflib import SequenceMatcher

from recgpt.stages.config import ExplanationsConfig
from recgpt.stages.text import content_words, normalise, words

#: The example answer of the explanation templates (v3 receives it as its ``example`` variable).
PROMPT_EXAMPLE = "Sketch mountain trails in a pocket-sized journal"

EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
PHONE = re.compile(r"(?:\+?\d[\s().-]?){7,}")
STREET = re.compile(
    r"\b\d{1,5}\s+(?:[A-Za-z]+\s){0,3}(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|way)\b",
    re.IGNORECASE,
)


def check_explanation(
    text: str, title: str, config: ExplanationsConfig, personal_terms: list[str] | None = None,
    examples: tuple[str, ...] = (PROMPT_EXAMPLE,),
) -> str | None:
    tokens = words(text)
    if not tokens:
        return "empty"
    if any(is_title_copy(text, example, config.title_copy_ratio) for example in examples):
        return "example_copy"
    if not (config.min_words <= len(tokens) <= config.max_words):
        return "length"
    fillers = {f.lower() for f in config.filler_words}
    if set(tokens) & fillers or any(f in text.lower() for f in fillers if not f.isalpha() and len(f) > 2):
        return "filler"
    if EMAIL.search(text) or PHONE.search(text) or STREET.search(text):
        return "personal_data"
    padded = f" {normalise(text)} "
    for term in personal_terms or []:
        key = normalise(term)
        if len(key) >= 3 and f" {key} " in padded:
            return "personal_data"
    if is_title_copy(text, title, config.title_copy_ratio):
        return "title_copy"
    if Counter(tokens).most_common(1)[0][1] >= 3:
        return "repetition"
    return None


def is_title_copy(text: str, title: str, ratio: float) -> bool:
    """True when ``ratio`` of the text's content words are in the title (and it has 3+), or the
    normalised strings are at least ``ratio`` similar character by character."""
    ours, theirs = content_words(text), content_words(title)
    if len(ours) >= 3 and len(ours & theirs) / len(ours) >= ratio:
        return True
    return SequenceMatcher(None, normalise(text), normalise(title)).ratio() >= ratio
