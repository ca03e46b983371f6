"""Configuration of the whole pipeline: one YAML file, one block per area, unknown keys rejected.

Each block is the owning area's own model (data source here; compression from ``recgpt.behavior``, the
LLM runtime from ``recgpt.llm``, the stages and phi from ``recgpt.stages``, the retriever from
``recgpt.retrieval``), plus the ``evaluation`` block of this area. CLI flags override single values::

    recgpt run --config configs/amazon-office.yaml --sample-users 50 --backend fake
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, model_validator

from recgpt.alignment.config import AlignmentConfig
from recgpt.behavior.config import CompressionConfig
from recgpt.config import StrictConfig, load_block
from recgpt.data.config import DataConfig
from recgpt.executors.config import ExecutorConfig
from recgpt.judge.config import JudgeConfig
from recgpt.llm.config import LLMConfig
from recgpt.retrieval.config import BETA_GRID, RetrieverSearchConfig, TARConfig
from recgpt.seral.config import SeralConfig
from recgpt.stages.config import ExplanationsConfig, InterestsConfig, PhiConfig, TagEvalConfig, TagsConfig


class EvaluationConfig(StrictConfig):
    """The offline evaluation: which users, which cut-offs, which comparisons."""

    sample_users: int = Field(8, ge=1, description="seeded sample of test users the LLM stages run on")
    seed: int = Field(0, description="seed of the user sample")
    ks: list[int] = Field(default_factory=lambda: [10, 20, 50], description="cut-offs of every metric")
    k_main: int = Field(20, ge=1, description="the cut-off of the headline figures and the Matthew plot")
    classic: Literal["ease", "itemknn"] = Field("ease", description="the classic collaborative baseline")
    classic_options: dict[str, float | int | None] = Field(
        default_factory=dict, description="fixed options of the classic baseline, e.g. {max_items: 20000} for EASE "
        "on the most popular items of a large catalog, {block: 1024} for item-kNN")
    tune_baselines: bool = Field(True, description="tune the classic baseline on dev over classic_grid, then refit it "
                                 "on train + dev for the test figures (false: its defaults, fitted on train)")
    classic_grid: dict[str, list[float]] | None = Field(
        None, description="values tried on dev per option (None: recgpt.retrieval.tuning.BASELINE_GRIDS)")
    sequential: bool = Field(False, description="also train the sequential reference (SASRec, registry "
                             "'sasrec') and report it beside the TAR (minutes of training on a CPU)")
    memory_gb: float | None = Field(None, gt=0, description="memory budget of the pre-flight check (None: the "
                                    "memory available when the run starts)")
    beta_grid: list[float] = Field(
        default_factory=lambda: list(BETA_GRID),
        description="fusion weights tried on the dev fold (item-title tags, no LLM) to pick the fused beta",
    )
    beta_criterion: Literal["best", "smallest_within"] = Field(
        "best", description="best: the beta with the best dev recall; smallest_within: the smallest beta (most "
        "weight on tags) whose dev recall is within beta_tolerance of the best")
    beta_tolerance: float = Field(0.01, ge=0, lt=1, description="relative tolerance of smallest_within (0.01 = 1%)")
    tune_users: int | None = Field(1500, ge=1, description="dev users used to tune beta (None = all)")
    all_users: bool = Field(True, description="also evaluate the methods that need no LLM on every test user")
    explain_top: int = Field(10, ge=1, description="fused recommendations per sampled user that get explanations")

    def classic_grid_or_default(self) -> dict[str, list]:
        from recgpt.retrieval.tuning import BASELINE_GRIDS

        if not self.tune_baselines:
            return {}
        return dict(BASELINE_GRIDS.get(self.classic, {}) if self.classic_grid is None else self.classic_grid)

    def largest_classic_options(self) -> dict:
        """The classic baseline's options with the largest value of each grid entry (the memory check's case)."""
        grid = {key: max(values) for key, values in self.classic_grid_or_default().items() if values}
        return {**grid, **self.classic_options}

    @model_validator(mode="after")
    def _k_main_is_a_k(self) -> "EvaluationConfig":
        if self.k_main not in self.ks:
            raise ValueError(f"k_main={self.k_main} must be one of ks={self.ks}")
        if any(not 0.0 <= b <= 1.0 for b in self.beta_grid):
            raise ValueError("beta_grid values must lie in [0, 1]")
        return self


class PipelineConfig(StrictConfig):
    """Everything ``recgpt run`` reads. Each stage fingerprints only the blocks it declares."""

    name: str = Field("recgpt", description="a label for the run, shown in the report; the default run folder "
                      "is runs/<name>")
    data: DataConfig = Field(default_factory=DataConfig)
    compression: CompressionConfig = Field(default_factory=CompressionConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig, description="where the LLM calls run: this "
                                     "process (local) or a Ray cluster (ray); answers are the same either way")
    interests: InterestsConfig = Field(default_factory=InterestsConfig)
    tags: TagsConfig = Field(default_factory=TagsConfig)
    phi: PhiConfig = Field(default_factory=PhiConfig)
    explanations: ExplanationsConfig = Field(default_factory=ExplanationsConfig)
    tag_eval: TagEvalConfig = Field(default_factory=TagEvalConfig)
    retriever: TARConfig = Field(default_factory=TARConfig)
    retriever_search: RetrieverSearchConfig = Field(default_factory=RetrieverSearchConfig)
    alignment: AlignmentConfig = Field(default_factory=AlignmentConfig)
    judge: JudgeConfig = Field(default_factory=JudgeConfig, description="the judge of the main job: with "
                               "judge.run_filter it grades the interests, tags and explanations right after their "
                               "stages and only passing ones go downstream (or are served)")
    seral: SeralConfig = Field(default_factory=SeralConfig, description="serendipity (recgpt seral ...)")
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)

    @model_validator(mode="after")
    def _one_sample(self) -> "PipelineConfig":
        """``evaluation.sample_users`` and ``evaluation.seed`` pick the users of every LLM stage, on the test
        fold, so all stages and the comparison see the same users. A stage block that sets one of these
        itself to another value is an error naming both keys; otherwise the stage block takes the value."""
        wanted = {"sample_users": self.evaluation.sample_users, "seed": self.evaluation.seed, "fold": "test"}
        for name in LLM_STAGE_BLOCKS:
            block = getattr(self, name)
            for key, value in wanted.items():
                if key in block.model_fields_set and getattr(block, key) != value:
                    other = f"evaluation.{key}={value!r}" if key != "fold" else "the test fold the pipeline evaluates"
                    raise ValueError(f"{name}.{key}={getattr(block, key)!r} conflicts with {other}: the pipeline "
                                     f"runs every LLM stage on the evaluation sample; remove {name}.{key}")
                block.__dict__[key] = value  # derived, not set by the user: keep it out of model_fields_set
        return self

    def default_run_dir(self) -> Path:
        """``runs/<name>`` (characters other than letters, digits, ``.``, ``_`` and ``-`` become ``-``): two
        configuration files of the same file name in different folders get different run folders when their
        ``name`` differs."""
        safe = re.sub(r"[^A-Za-z0-9._-]+", "-", self.name).strip("-.") or "recgpt"
        return Path("runs") / safe

    def to_yaml(self) -> str:
        """The resolved configuration, without the stage blocks' sample keys (they follow ``evaluation``)."""
        exclude = {name: set(DERIVED_STAGE_KEYS) for name in LLM_STAGE_BLOCKS}
        return yaml.safe_dump(self.model_dump(mode="json", exclude=exclude), sort_keys=False)


#: Stage blocks whose user sample the ``evaluation`` block decides, and the keys it decides.
LLM_STAGE_BLOCKS = ("interests", "tags", "explanations")
DERIVED_STAGE_KEYS = ("sample_users", "seed", "fold")


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None,
                settings: list[str] | None = None) -> PipelineConfig:
    """The configuration from ``path`` (or the defaults) with dotted ``overrides`` applied (``None`` values
    are ignored, so unset CLI flags leave the file alone), then ``settings``: ``KEY=VALUE`` strings of a
    ``--set`` flag (dotted keys, values read as YAML)."""
    return load_block(PipelineConfig, path, overrides=overrides, settings=settings)
