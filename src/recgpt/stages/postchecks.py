"""Post-checks that need no LLM, for interests (report Table 1) and tags (report 2.2.1, Appendix B).

Every check returns, per candidate, the name of the first check it failed or ``None`` when it passed, so
a stage can keep all rows (with ``passed_checks``) and count what each check removed.

Interest grounding (Table 1's "hallucination": no behavioral evidence) is tested against the texts of the
user's own history (item titles, categories, search queries): an interest is grounded when

* its MiniLM cosine to the closest history text is >= ``grounding_similarity``, and
* its reason either shares a content word with the history, or has cosine >= ``reason_similarity`` to it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from recgpt.stages.config import InterestsConfig, TagsConfig
from recgpt.stages.text import STOPWORDS, content_words, greedy_dedupe, normalise, words

EmbedFn = Callable[[list[str]], np.ndarray]


def default_embed(texts: list[str]) -> np.ndarray:
    from recgpt.embeddings import embed

    return embed(texts)


class EmbeddingCache:
    """Embeds each distinct text once: ``cache(texts)`` -> (len(texts), d) L2-normalised rows."""

    def __init__(self, embed_fn: EmbedFn | None = None) -> None:
        self.embed_fn = embed_fn or default_embed
        self._vectors: dict[str, np.ndarray] = {}

    def warm(self, texts: Iterable[str]) -> None:
        missing = sorted({t for t in texts if t not in self._vectors})
        if missing:
            for text, vector in zip(missing, self.embed_fn(missing)):
                self._vectors[text] = vector

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.warm(texts)
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        return np.vstack([self._vectors[t] for t in texts])


@dataclass
class Candidate:
    """A text the LLM produced (interest or tag) with its reason."""

    text: str
    reason: str


def count_failures(verdicts: Iterable[str | None]) -> Counter:
    """Counter of check names that removed candidates, plus ``passed``."""
    return Counter(v or "passed" for v in verdicts)


def mark_duplicates(
    candidates: list[Candidate], verdicts: list[str | None], vectors: EmbeddingCache, threshold: float
) -> None:
    """Set ``"duplicate"`` on every still-passing candidate that repeats an earlier passing one (same
    normalised text or MiniLM cosine >= ``threshold``), in place."""
    alive = [i for i, v in enumerate(verdicts) if v is None]
    texts = [candidates[i].text for i in alive]
    _, dropped = greedy_dedupe(texts, vectors(texts) if texts else None, threshold)
    for j in dropped:
        verdicts[alive[j]] = "duplicate"


# -- interests ----------------------------------------------------------------------------------------------


def check_interests(
    candidates: list[Candidate], history_texts: list[str], config: InterestsConfig, vectors: EmbeddingCache
) -> list[str | None]:
    """Verdicts for one user's interests, in order: empty, necessity (names a need such as "buying
    paper", Table 1), duplicate, ungrounded, over_cap, or None."""
    verdicts: list[str | None] = [None] * len(candidates)
    necessity = {w.lower() for w in config.necessity_words}
    for i, c in enumerate(candidates):
        if not normalise(c.text):
            verdicts[i] = "empty"
        elif set(words(c.text)) & necessity:
            verdicts[i] = "necessity"
    mark_duplicates(candidates, verdicts, vectors, config.duplicate_similarity)
    alive = [i for i, v in enumerate(verdicts) if v is None]
    if alive:
        history = [t for t in history_texts if t.strip()]
        vocab = set().union(*(content_words(t) for t in history)) if history else set()
        h = vectors(history) if history else None
        interest_sim = _max_similarity(vectors([candidates[i].text for i in alive]), h)
        reason_sim = _max_similarity(vectors([candidates[i].reason or "-" for i in alive]), h)
        for k, i in enumerate(alive):
            lexical = bool(content_words(candidates[i].reason) & vocab)
            reason_ok = lexical or reason_sim[k] >= config.reason_similarity
            if interest_sim[k] < config.grounding_similarity or not reason_ok:
                verdicts[i] = "ungrounded"
    kept = 0
    for i, v in enumerate(verdicts):
        if v is None:
            kept += 1
            if kept > config.max_interests:
                verdicts[i] = "over_cap"
    return verdicts


def _max_similarity(queries: np.ndarray, history: np.ndarray | None) -> np.ndarray:
    if history is None or len(history) == 0:
        return np.zeros(len(queries), dtype=np.float32)
    return (queries @ history.T).max(axis=1)


# -- tags ---------------------------------------------------------------------------------------------------

_MODEL_NUMBER = re.compile(r"^(?=.*\d)(?=.*[a-z])[a-z0-9-]+$|^\d+$")


def shape_problem(tag: str, min_words: int, max_words: int) -> bool:
    """True unless ``tag`` looks like "modifier + core word": min..max words, letters, no model numbers,
    not a sentence, and not ending in a stopword (the core word comes last)."""
    tokens = words(tag)
    if not (min_words <= len(tokens) <= max_words):
        return True
    if any(_MODEL_NUMBER.match(t) for t in tokens):
        return True
    if re.search(r"[.!?;:]\s|https?:|@", tag) or tag.strip().endswith((".", "!", "?")):
        return True
    return tokens[-1] in STOPWORDS


def contains_phrase(text: str, phrases: Iterable[str]) -> str | None:
    """The first phrase (normalised, whole words) found in ``text``, or None."""
    padded = f" {normalise(text)} "
    for phrase in phrases:
        p = normalise(phrase)
        if p and f" {p} " in padded:
            return phrase
    return None


def check_tags(
    candidates: list[Candidate],
    recent_texts: list[str],
    brands: Iterable[str],
    config: TagsConfig,
    vectors: EmbeddingCache,
) -> list[str | None]:
    """Verdicts for one user's tags (all interests together), in order of the first failed check:
    empty, shape, vague, brand, history_copy (matches an item or search of the last ``recent_days``),
    duplicate (normalised or MiniLM near-duplicate of an earlier kept tag), or None when it passed."""
    vague = set(config.vague_words) | set(config.extra_vague_words)
    brand_list = [b for b in brands if len(normalise(b)) >= 3] if config.forbid_brands else []
    verdicts: list[str | None] = []
    for c in candidates:
        if not normalise(c.text):
            verdicts.append("empty")
        elif shape_problem(c.text, config.min_words, config.max_words):
            verdicts.append("shape")
        elif set(words(c.text)) & vague:
            verdicts.append("vague")
        elif contains_phrase(c.text, brand_list):
            verdicts.append("brand")
        else:
            verdicts.append(None)
    alive = [i for i, v in enumerate(verdicts) if v is None]
    recent = [t for t in recent_texts if normalise(t)]
    if alive and recent:
        tag_vectors = vectors([candidates[i].text for i in alive])
        sims = _max_similarity(tag_vectors, vectors(recent))
        recent_norm = [normalise(t) for t in recent]
        for k, i in enumerate(alive):
            tag = normalise(candidates[i].text)
            copied = any(tag == r or (len(tag.split()) >= 3 and tag in r) for r in recent_norm)
            if copied or sims[k] >= config.history_copy_similarity:
                verdicts[i] = "history_copy"
    mark_duplicates(candidates, verdicts, vectors, config.near_duplicate_similarity)
    return verdicts
