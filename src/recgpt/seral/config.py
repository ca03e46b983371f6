"""Typed configuration of the seral area (YAML block ``seral``). Imports nothing heavy.

    seral:
      granularity: category            # or leaf: the finer category of the source (Amazon's leaf_category)
      profile: {recent: 5, long_term: 5, neighbours: 5}
      candidates: {size: 10}
      serengpt: {llm: {backend: torch}, template_version: v1}
      pairs: {new_per_chosen: 1, familiar_per_chosen: 1, collaborative_users: 5}
      ipo: {beta: 0.1, steps: 20}
      channel: {list_size: 20, quota: 2, base: popular}
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from recgpt.config import StrictConfig
from recgpt.llm.config import LLMConfig

GRANULARITIES = ("category", "leaf")


class ProfileConfig(StrictConfig):
    """Cognition profiles: long-term stable interests, recent interests, and neighbouring never-touched
    categories (by how often users who have the user's categories also have them)."""

    long_term: int = Field(5, ge=1, description="most frequent categories of the whole history kept as stable")
    recent: int = Field(5, ge=1, description="the last N reliable behaviors give the recent interests")
    neighbours: int = Field(5, ge=0, description="never-touched categories kept as neighbours")
    min_support: int = Field(1, ge=1, description="users two categories must share to count as neighbours")


class CandidatesConfig(StrictConfig):
    """Offline candidate sets: each holds the user's real serendipitous next item and ``size - 1`` other items
    of categories the user never touched (half from neighbouring categories when there are enough)."""

    size: int = Field(10, ge=2, description="items per candidate set, the real one included")
    neighbour_share: float = Field(0.5, ge=0, le=1, description="share of the others drawn from neighbours")
    max_users: int | None = Field(None, ge=1, description="a seeded sample of users (None: every one)")
    seed: int = 0


class SerenGPTConfig(StrictConfig):
    """The serendipity judge: a prompt (``templates/serendipity/v<N>.j2``) and its answer schema."""

    llm: LLMConfig = Field(default_factory=lambda: LLMConfig(backend="torch"),
                           description="the model that judges (the embedded model through the torch engine)")
    template_version: str | None = Field(None, description="prompt template version (None: the latest)")
    rubric_version: str = Field("v1", description="judge rubric src/recgpt/judge/rubrics/serendipity/*.<v>.yaml")
    max_tokens: int = Field(96, ge=16, description="answer budget per judgment")
    reason_chars: int = Field(120, ge=8, description="cap on the reason in the answer schema")
    adapter: str | None = Field(None, description="a LoRA adapter of an aligned SerenGPT (seral train's output)")

    @model_validator(mode="before")
    @classmethod
    def _torch_unless_named(cls, raw: Any) -> Any:
        """An ``llm`` block that names no backend (``--set serengpt.llm.options.torch.batch_size=8``) keeps the
        torch engine, SerenGPT's default (the runtime's own default is llama-cpp)."""
        if isinstance(raw, dict) and isinstance(raw.get("llm"), dict) and "backend" not in raw["llm"]:
            raw = {**raw, "llm": {**raw["llm"], "backend": "torch"}}
        return raw


class PairsConfig(StrictConfig):
    """Preference pairs from logs and the collaborative data intervention."""

    fold: Literal["dev", "test"] = Field("dev", description="the fold whose next items give the pairs (dev: the "
                                                            "test fold stays unseen for the offline evaluation)")
    new_per_chosen: int = Field(1, ge=0, description="rejected items of new categories the user did not take")
    familiar_per_chosen: int = Field(1, ge=0, description="rejected items of the user's familiar categories")
    collaborative_users: int = Field(5, ge=0, description="similar users whose serendipitous items are borrowed "
                                                         "(0: no collaborative data intervention)")
    collaborative_per_user: int = Field(1, ge=0, description="borrowed pairs per user at most")
    max_users: int | None = Field(None, ge=1, description="a seeded sample of users (None: every one)")
    heldout_share: float = Field(0.1, ge=0, lt=1, description="share of users whose pairs are held out")
    seed: int = 0


class IPOConfig(StrictConfig):
    """Preference optimisation of SerenGPT: trl's DPO trainer with the IPO loss, LoRA on all linear layers."""

    beta: float = Field(0.1, gt=0, description="IPO regularisation (tau in the IPO paper)")
    lr: float = Field(5e-4, gt=0)
    steps: int = Field(20, ge=1, description="optimizer steps (steps x batch_size seeded training rows are used)")
    batch_size: int = Field(4, ge=1)
    lora_r: int = Field(8, ge=1)
    lora_alpha: int = Field(16, ge=1)
    max_length: int = Field(512, ge=64, description="prompt + answer tokens; longer pairs are left out")
    heldout_rows: int = Field(32, ge=0, description="held-out rows whose loss is measured before and after (and "
                                                     "as many training rows; 0: every training row, none held out)")
    bf16: bool | Literal["auto"] = Field("auto", description="bfloat16 autocast on the CPU; auto: when it has AMX-BF16")
    checkpoint_every: int = Field(20, ge=1, description="steps between checkpoints; a killed training resumes "
                                                         "from the last (not part of the training's identity)")
    seed: int = 0


class ChannelConfig(StrictConfig):
    """The nearline serendipity channel: candidates outside the user's history categories, judged by a
    SerenGPT scorer in a batch job (cached per user profile version and item), a quota of the final list."""

    list_size: int = Field(20, ge=1, description="length of the final list")
    quota: int = Field(2, ge=0, description="slots reserved for the best serendipitous candidates")
    base: str = Field("popular", description="the registered retriever giving the rest of the list")
    scorer: str = Field("popular-new.v1", description="the registered seral scorer that judges candidates")
    per_user: int = Field(20, ge=1, description="candidates judged per user (tags-only retrieval, then "
                                                "neighbouring categories)")
    tag_share: float = Field(0.5, ge=0, le=1, description="share of the candidates from tags-only retrieval (the "
                                                          "run's trained retriever at beta 0, the run's tags or "
                                                          "title tags) when RUN/retriever has one")
    min_score: float = Field(0.5, description="a candidate fills a reserved slot only when scored at least this")
    max_users: int | None = Field(None, ge=1, description="a seeded sample of users (None: every one)")
    seed: int = 0

    @field_validator("base", "scorer")
    @classmethod
    def _registered(cls, value: str, info: ValidationInfo) -> str:
        from recgpt import registry

        return (registry.retrievers if info.field_name == "base" else registry.seral_scorers).checked(value)

    @model_validator(mode="after")
    def _quota_fits(self) -> "ChannelConfig":
        if self.quota > self.list_size:
            raise ValueError(f"quota={self.quota} is more than list_size={self.list_size}")
        return self


class SeralConfig(StrictConfig):
    """The seral block of a pipeline configuration (or a file of just this block)."""

    granularity: Literal["category", "leaf"] = Field(
        "category", description="what 'the same category' means: the item's category, or its leaf category "
                                "(items.attributes.leaf_category; the category where an item has none)")
    fold: Literal["dev", "test"] = Field("test", description="the held-out fold whose next items are labelled")
    behaviors: list[str] | None = Field(None, description="behaviors whose categories count as touched (None: "
                                                         "every behavior, clicks included: a viewed category is "
                                                         "not unexpected)")
    profile: ProfileConfig = Field(default_factory=ProfileConfig)
    candidates: CandidatesConfig = Field(default_factory=CandidatesConfig)
    serengpt: SerenGPTConfig = Field(default_factory=SerenGPTConfig)
    pairs: PairsConfig = Field(default_factory=PairsConfig)
    ipo: IPOConfig = Field(default_factory=IPOConfig)
    channel: ChannelConfig = Field(default_factory=ChannelConfig)

    @field_validator("behaviors")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        from recgpt.data.behaviors import BEHAVIORS

        unknown = sorted(set(value or []) - set(BEHAVIORS))
        if unknown:
            raise ValueError(f"unknown behaviors {unknown}; known: {', '.join(BEHAVIORS)}")
        return value
