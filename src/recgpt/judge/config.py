"""Typed configuration of the judge (YAML block ``judge``), shared by ``recgpt judge ...`` and YAML files::

    judge:
      llm: {backend: openai, base_url: http://localhost:8000/v1, model: qwen3-8b}   # the judge's own model
      sample_per_task: 50
      check: {threshold: 0.05, metric: accuracy}
      serve: {token_env: RECGPT_JUDGE_TOKEN, port: 8765}
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from recgpt.config import StrictConfig
from recgpt.executors.config import ExecutorConfig
from recgpt.llm.config import LLMConfig

#: The judged tasks, one rubric folder each (src/recgpt/judge/rubrics/<task>/).
TASKS = ("interests", "tags", "explanations")
#: Judge tasks over inputs rather than stage outputs: logged behaviors before they become training targets.
PURIFICATION_TASKS = ("behaviors",)
#: Judge tasks of other areas, graded with their own rubric: seral's serendipity of a candidate for a profile.
AREA_TASKS = ("serendipity",)


class RebalanceConfig(StrictConfig):
    """Judge data buffer rebalancing: minority augmentation and recency-prioritised downsampling."""

    half_life_rounds: float = Field(1.0, gt=0, description="age in rounds at which a majority verdict weighs 1/2")
    majority_ratio: float = Field(1.0, ge=1.0, description="majority size T relative to the largest minority")
    max_history_rounds: int | None = Field(None, ge=1, description="use only this many most recent rounds")




class CheckConfig(StrictConfig):
    """Milestone check (report 3.2): flag a drop of agreement with the latest human round."""

    threshold: float = Field(0.05, ge=0, le=1, description="flag a drop larger than this from the previous round")
    metric: Literal["accuracy", "precision", "recall", "f1"] = "accuracy"
    min_value: float | None = Field(None, ge=0, le=1, description="also flag any value below this floor")
    min_pairs: int = Field(5, ge=1, description="ignore (task, criterion) rows with fewer human-judge pairs")


class ServeConfig(StrictConfig):
    """The labelling web page."""

    host: str = "127.0.0.1"
    port: int = Field(8765, ge=0, le=65535)
    token: str | None = Field(None, description="access token; prefer token_env (None: a random one is printed)")
    token_env: str = Field("RECGPT_JUDGE_TOKEN", description="environment variable holding the token")
    sample_per_task: int | None = Field(50, ge=1, description="outputs offered for labelling per task")
    annotator: str = Field("human", description="name stored as the judge of human verdicts")
    include_rule_failed: bool = Field(False, description="also offer outputs that failed the rule checks")


class JudgeConfig(StrictConfig):
    """The LLM judge, its buffer, the milestone check, rebalancing and the labelling page."""

    llm: LLMConfig = Field(default_factory=LLMConfig, description="the judge's model (any backend)")
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig, description="where the judge's calls run: "
                                     "this process (local) or a Ray cluster (ray)")
    tasks: list[Literal["interests", "tags", "explanations", "serendipity"]] = Field(
        default_factory=lambda: list(TASKS), description="the tasks graded and labelled (serendipity: seral's "
                                                         "candidates, after `recgpt seral evaluate`)")
    rubric_version: str = Field("v1", description="rubric files src/recgpt/judge/rubrics/<task>/*.<version>.yaml")
    template_version: str | None = Field(None, description="judge prompt template version, None = latest")
    sample_per_task: int | None = Field(None, ge=1, description="grade a seeded sample of each task's outputs")
    seed: int = 0
    max_tokens: int = Field(320, ge=16, description="answer budget per judge call")
    reason_chars: int = Field(120, ge=8, description="cap on each criterion's reason in the answer schema")
    max_context_chars: int = Field(1200, ge=100, description="clip long context (the behavior text) to this")
    prompt_examples: bool = Field(True, description="show the rubric's examples in the prompt (longer prompts)")
    per_criterion: bool = Field(False, description="one call per criterion instead of one per output (the form a "
                                                   "judge trained by `recgpt judge train` answers; set for it)")
    chunk_size: int = Field(16, ge=1, description="outputs per run_batch call; verdicts are stored after each")
    skip_llm_on_rule_fail: bool = Field(True, description="an output failing rule checks is not sent to the LLM")
    round: int | None = Field(None, ge=1, description="round stored with verdicts (None: latest human round, or 1)")
    buffer: str | None = Field(None, description="judge buffer SQLite file (None: RUN/judge/buffer.sqlite)")
    run_filter: bool = Field(False, description="recgpt run: grade the interests, tags and explanations with this "
                                                "judge right after their stages and keep only the outputs passing "
                                                "every criterion downstream (a failed one is marked "
                                                "judge:<criterion>; a failed explanation is no longer served); the "
                                                "report shows the pass rates per task and criterion")
    use_deployed: bool = Field(True, description="grade with the judge `recgpt judge train` deployed in the run "
                                                 "(RUN/judge/deployed.json: the torch engine with its adapter)")
    check: CheckConfig = Field(default_factory=CheckConfig)
    rebalance: RebalanceConfig = Field(default_factory=RebalanceConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
