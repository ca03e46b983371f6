"""Typed configuration of the three LLM stages, phi and the tag evaluation (one StrictConfig per stage).

Every block feeds both the CLI (``recgpt interests|tags|explain|train-phi``) and a YAML file, e.g.::

    interests: {max_interests: 8, pool_size: 12}
    tags: {tags_per_interest: 6, near_duplicate_similarity: 0.9}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from recgpt.config import StrictConfig

#: Appendix B's "broad or vague descriptive terms" plus a few more a weak model likes to write.
DEFAULT_VAGUE_WORDS: tuple[str, ...] = (
    "smart", "modular", "set", "sets", "various", "assorted", "stuff", "things", "thing", "item", "items",
    "product", "products", "goods", "misc", "miscellaneous", "general", "generic", "etc", "essentials",
    "accessories", "supplies", "equipment", "gear", "kit",
)

#: Appendix B's "meaningless generic terms" and "slogan-style cliches" for explanations.
DEFAULT_FILLER_WORDS: tuple[str, ...] = (
    "practical", "versatile", "elegant", "essential", "must-have", "perfect", "amazing", "great", "best",
    "awesome", "ultimate", "premium", "high-quality", "quality", "excellent", "wonderful", "nice",
    "gadget", "100%", "guaranteed", "forever", "buy", "hurry", "offer", "deal", "discount",
)


#: The packaged template version of each answer format: (task, reasoning, one call per user) -> version.
PACKAGED_VERSIONS: dict[tuple[str, bool, bool], str] = {
    ("interests", False, False): "v1", ("interests", True, False): "v2",
    ("tags", False, False): "v4", ("tags", True, False): "v2", ("tags", False, True): "v3", ("tags", True, True): "v3",
    ("explanations", False, False): "v3", ("explanations", True, False): "v2",
}


class StageRunConfig(StrictConfig):
    """What every LLM stage shares: the user sample, the history fold and the answer budget."""

    #: The stage's template task (set by each stage's block).
    _task: ClassVar[str] = ""

    fold: Literal["dev", "test"] | None = Field(
        "test", description="history visible to the stage: 'dev', 'test' (events + dev holdout) or None (all)"
    )
    sample_users: int | None = Field(None, ge=1, description="run on a seeded sample of this many users")
    seed: int = Field(0, description="seed of the user sample")
    max_tokens: int = Field(384, ge=16, description="answer budget per LLM call")
    reasoning: bool = Field(
        False, description="ask for a chain of thought first (the answer schema gains a leading reasoning field; "
        "template v2): for teachers and strong models; a 135M model spends its token budget on it"
    )

    @model_validator(mode="before")
    @classmethod
    def _packaged_version(cls, data: Any) -> Any:
        """template_version None: the packaged version of the chosen answer format (v1 plain, v2 with reasoning,
        tags v3 one call per user), so that adding a template version never changes what a config renders."""
        if cls._task and isinstance(data, dict) and data.get("template_version") is None:
            key = (cls._task, bool(data.get("reasoning", False)), data.get("call") == "per_user")
            data = {**data, "template_version": PACKAGED_VERSIONS[key]}
        return data


class InterestsConfig(StageRunConfig):
    """Interest mining, LLM_UI (report 2.1.2)."""

    _task: ClassVar[str] = "interests"
    template_version: str | None = Field(
        None, description="interests template version; None = the packaged one of the format (v1, or v2 with "
                          "reasoning)")
    max_interests: int = Field(8, ge=1, description="cap on kept interests per user (post-check)")
    ask_interests: int = Field(6, ge=1, le=20, description="how many interests the prompt asks for")
    pool_size: int = Field(10, ge=0, description="matched preset interests shown in the prompt")
    mined_pool: Path | None = Field(
        None, description="interests.parquet of an earlier run whose interests join the preset pool"
    )
    history_lines: int = Field(30, ge=1, description="at most this many compressed behavior lines (newest)")
    history_chars: int = Field(2500, ge=100, description="and at most this many characters (~700 tokens)")
    duplicate_similarity: float = Field(0.9, gt=0, le=1, description="MiniLM cosine at which two are duplicates")
    necessity_words: list[str] = Field(
        default_factory=lambda: ["buy", "buying", "purchase", "purchasing", "shopping", "restock", "restocking",
                                 "necessities", "necessity", "consumables", "chores"],
        description="an interest naming one of these is a need, not an interest (Table 1's necessity)",
    )
    grounding_similarity: float = Field(
        0.3, ge=0, le=1, description="min cosine between an interest and its closest history item text"
    )
    reason_similarity: float = Field(
        0.35, ge=0, le=1, description="min cosine of the reason to the history when it shares no content word"
    )


class TagsConfig(StageRunConfig):
    """Tag prediction, LLM_IT (report 2.2.1): one call per interest, or one per user (``call: per_user``)."""

    _task: ClassVar[str] = "tags"
    template_version: str | None = Field(
        None, description="tags template version; None = the packaged one of the format (v1; v2 with reasoning; "
                          "v3 all tags in one call)")
    call: Literal["per_interest", "per_user"] = Field(
        "per_interest", description="per_interest: one call per interest (small models); per_user: all of a "
                                    "user's tags in one call (template v3, the report's 50; strong or aligned models)")
    tags_per_user: int = Field(50, ge=1, description="call=per_user: tags asked for in the one call")
    interests_per_user: int = Field(8, ge=1, description="ask for tags for at most this many interests")
    tags_per_interest: int = Field(6, ge=1, le=20, description="tags asked for in each per-interest call")
    hints_per_interest: int = Field(
        4, ge=0, description="catalog product types (via phi, popular first) shown per interest; 0 = none"
    )
    sequence_items: int = Field(15, ge=1, description="most recent items shown per behavior sequence")
    recent_days: int = Field(30, ge=0, description="tags may not repeat items engaged in this many days")
    current_date: str | None = Field(
        None, description="ISO date used as 'today' (season); None = the day after each user's last event"
    )
    min_words: int = Field(2, ge=1, description="modifier + core word: at least this many words")
    max_words: int = Field(8, ge=1, description="and at most this many")
    vague_words: list[str] = Field(default_factory=lambda: list(DEFAULT_VAGUE_WORDS))
    extra_vague_words: list[str] = Field(default_factory=list, description="added to vague_words")
    forbid_brands: bool = Field(True, description="drop tags naming a catalog brand (Appendix B: no brand)")
    near_duplicate_similarity: float = Field(0.9, gt=0, le=1, description="MiniLM cosine of near-duplicates")

    history_copy_similarity: float = Field(
        0.85, gt=0, le=1, description="MiniLM cosine to a recent item title at which a tag copies it"
    )


class PhiConfig(StrictConfig):
    """The tag-to-category model phi: MiniLM embeddings + multinomial logistic regression."""

    holdout_share: float = Field(0.2, ge=0, lt=1, description="share of items held out for accuracy")
    seed: int = 0
    c: float = Field(4.0, gt=0, description="inverse regularisation strength of the logistic regression")
    max_iter: int = Field(2000, ge=10)
    augment_short_titles: bool = Field(
        True, description="also train on brand-free first words of titles, which look like tags"
    )
    category_names_as_examples: bool = Field(True, description="also train on each category's own name")


class ExplanationsConfig(StageRunConfig):
    """Explanations, LLM_RE, produced offline per (interest, item) pair (report 2.4.2)."""

    _task: ClassVar[str] = "explanations"
    template_version: str | None = Field(
        None, description="explanations template version; None = the packaged one of the format (v1, or v2 with "
                          "reasoning)")
    max_tokens: int = Field(64, ge=16)
    items_per_interest: int = Field(3, ge=1, description="items paired with each interest (popular first)")
    categories_per_interest: int = Field(2, ge=1, description="most frequent phi categories of its tags")
    current_date: str | None = Field(None, description="ISO date for the prompt; None = the data's last day + 1")
    item_only_for_paired_items: bool = Field(
        True, description="also write an item-only explanation for every paired item (lookup fallback)"
    )
    min_words: int = Field(4, ge=1)
    max_words: int = Field(12, ge=1)
    filler_words: list[str] = Field(default_factory=lambda: list(DEFAULT_FILLER_WORDS))
    title_copy_ratio: float = Field(
        0.8, gt=0, le=1, description="share of explanation words found in the title at which it is a copy"
    )
    match_similarity: float = Field(
        0.6, ge=0, le=1, description="lookup: min MiniLM cosine between a user interest and a stored one"
    )
    production: Literal["shown", "catalog"] = Field(
        "shown", description="which pairs are written: 'shown': the sampled users' interests with the items the "
        "evaluation shows them, plus item-only ones; 'catalog' (report 2.4.2): also every user's interests with "
        "the items the retriever shows anyone in their tags' categories, and item-only explanations of the "
        "most-shown items, within max_pairs"
    )
    served_depth: int = Field(
        20, ge=1, description="the list length the service shows (recgpt serve's default k): catalog pairs and "
        "the coverage figures count the first served_depth items of every user's served list"
    )
    item_only_items: int = Field(
        200, ge=0, description="catalog: item-only explanations for this many most-shown items"
    )
    max_pairs: int = Field(
        1000, ge=1, description="catalog: at most this many pairs (LLM calls) per run of the stage"
    )


class TagEvalConfig(StrictConfig):
    """HR@K of the next interaction's category (report Table 5)."""

    ks: list[int] = Field(default_factory=lambda: [5, 10, 30])
    sample_users: int = Field(20, ge=1)
    seed: int = 0
    fold: Literal["dev", "test"] = "test"
