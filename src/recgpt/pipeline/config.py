"""Configuration of the whole pipeline: one YAML file, one block per area, unknown keys rejected.

Each block is the owning area's own model (data source here; compression from ``recgpt.behavior``, the
LLM runtime from ``recgpt.llm``, the stages and phi from ``recgpt.stages``, the retriever from
``recgpt.retrieval``), plus the ``evaluation`` block of this area. CLI flags override single values::

    recgpt run --config configs/amazon-office.yaml --sample-users 50 --backend fake
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from recgpt.behavior.compression import CompressionConfig
from recgpt.config import StrictConfig
from recgpt.llm.runtime import LLMConfig
from recgpt.retrieval.train import TARConfig
from recgpt.stages.config import ExplanationsConfig, InterestsConfig, PhiConfig, TagEvalConfig, TagsConfig


class DataConfig(StrictConfig):
    """Where the data comes from: a registered loader and its path (folder, or mapping YAML for custom)."""

    source: Literal["amazon-office", "taobao", "custom"] = "amazon-office"
    path: str | None = Field(None, description="default: the bundled copy of the source")
    max_users: int | None = Field(
        None, ge=1, description="keep a seeded subset of users and the items they touch (quick trials, tests)"
    )
    seed: int = 0
    split: Literal["auto", "source", "leave-one-out"] = Field(
        "auto", description="auto: the source's own split, or leave-one-out when it has none"
    )
    split_min_events: int = Field(3, ge=2, description="leave-one-out: users with fewer events get no target")


class EvaluationConfig(StrictConfig):
    """The offline evaluation: which users, which cut-offs, which comparisons."""

    sample_users: int = Field(8, ge=1, description="seeded sample of test users the LLM stages run on")
    seed: int = Field(0, description="seed of the user sample")
    ks: list[int] = Field(default_factory=lambda: [10, 20, 50], description="cut-offs of every metric")
    k_main: int = Field(20, ge=1, description="the cut-off of the headline figures and the Matthew plot")
    classic: Literal["ease", "itemknn"] = Field("ease", description="the classic collaborative baseline")
    beta_grid: list[float] = Field(
        default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 0.9, 1.0],
        description="fusion weights tried on the dev fold (item-title tags, no LLM) to pick the fused beta",
    )
    tune_users: int | None = Field(1500, ge=1, description="dev users used to tune beta (None = all)")
    all_users: bool = Field(True, description="also evaluate the methods that need no LLM on every test user")
    explain_top: int = Field(10, ge=1, description="fused recommendations per sampled user that get explanations")

    @model_validator(mode="after")
    def _k_main_is_a_k(self) -> "EvaluationConfig":
        if self.k_main not in self.ks:
            raise ValueError(f"k_main={self.k_main} must be one of ks={self.ks}")
        if any(not 0.0 <= b <= 1.0 for b in self.beta_grid):
            raise ValueError("beta_grid values must lie in [0, 1]")
        return self


class PipelineConfig(StrictConfig):
    """Everything ``recgpt run`` reads. Each stage fingerprints only the blocks it declares."""

    name: str = Field("recgpt", description="a label for the run, shown in the report")
    data: DataConfig = Field(default_factory=DataConfig)
    compression: CompressionConfig = Field(default_factory=CompressionConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    interests: InterestsConfig = Field(default_factory=InterestsConfig)
    tags: TagsConfig = Field(default_factory=TagsConfig)
    phi: PhiConfig = Field(default_factory=PhiConfig)
    explanations: ExplanationsConfig = Field(default_factory=ExplanationsConfig)
    tag_eval: TagEvalConfig = Field(default_factory=TagEvalConfig)
    retriever: TARConfig = Field(default_factory=TARConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)

    @model_validator(mode="after")
    def _one_sample(self) -> "PipelineConfig":
        """``evaluation.sample_users`` and ``evaluation.seed`` pick the users of every LLM stage, on the test
        fold, so all stages and the comparison see the same users (the stage blocks' own values are set)."""
        for block in (self.interests, self.tags, self.explanations):
            for key, value in (("sample_users", self.evaluation.sample_users), ("seed", self.evaluation.seed),
                               ("fold", "test")):
                if getattr(block, key) != value:
                    setattr(block, key, value)
        return self


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """The configuration from ``path`` (or the defaults) with dotted ``overrides`` applied; ``None`` values
    in ``overrides`` are ignored, so unset CLI flags leave the file alone."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if path is None:
        raw: dict[str, Any] = {}
        from recgpt.config import set_dotted

        for dotted, value in overrides.items():
            set_dotted(raw, dotted, value)
        return PipelineConfig.from_dict(raw, source="<defaults>")
    return PipelineConfig.from_yaml(path, overrides)
