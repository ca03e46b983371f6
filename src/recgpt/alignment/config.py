"""Typed configuration of the alignment area (YAML block ``alignment``). Imports nothing heavy.

    alignment:
      enabled: true                     # recgpt run: build the set and fine-tune before the tags stage
      incremental: {window: last_n, last_n: 3, per_user: 80, per_category: 2, max_users: 600}
      trainer: {method: lora, epochs: 2, lr: 0.0002}
      evaluation: {users: 200, leaves: 200}
      judge: {llm: {backend: openai, ...}}  # incremental.purify: judge asks it (a stronger model on a server)
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from recgpt.config import StrictConfig
from recgpt.judge.config import JudgeConfig
from recgpt.llm.config import LLMConfig

#: The stage tasks alignment can distil and self-train.
STAGE_TASKS = ("interests", "tags", "explanations")


class IncrementalConfig(StrictConfig):
    """The incremental-learning set of the tag task (report 2.2.2): a user's recent reliable behaviors of the
    training fold become the tags to predict from the history before them."""

    window: Literal["last_n", "days"] = Field(
        "last_n", description="targets: the last N reliable behaviors (sparse data) or those of the last N days")
    last_n: int = Field(3, ge=1, description="window=last_n: behaviors per user taken as targets")
    days: int = Field(14, ge=1, description="window=days: days before each user's last behavior")
    skip_last: int = Field(
        0, ge=0, description="end the window this many behaviors before the user's last one (an older window, "
                             "for the without/with incremental-learning comparison)")
    positions: Literal["window", "all"] = Field(
        "window", description="window: one cut before the window; all: a cut before every behavior (a bigger set)")
    horizon: int = Field(3, ge=1, description="positions=all: the next behaviors after each cut that are targets")
    min_history: int = Field(1, ge=1, description="behaviors a user must have before a cut")
    purify: Literal["rules", "judge", "none"] = Field(
        "rules", description="rules: drop targets whose tag the tag stage's post-checks would reject; judge: then "
                             "ask the alignment block's judge whether each behavior is relevant and timely")
    judge_criteria: list[str] | None = Field(
        None, description="purify=judge: the criteria of the behaviors rubric a target must pass (None: all)")
    per_user: int = Field(80, ge=1, description="balancing, first stage: at most this many targets per user")
    per_category: int = Field(2, ge=1, description="balancing, second stage: at most this many per phi category")
    tag_words: int = Field(6, ge=2, description="a target's tag: its title shortened to this many words")
    max_users: int | None = Field(None, ge=1, description="a seeded sample of users (None: every user)")
    holdout_share: float = Field(0.05, ge=0, lt=1, description="share of samples held out for early stopping")
    seed: int = 0

    @model_validator(mode="after")
    def _window_fits(self) -> "IncrementalConfig":
        if self.positions == "all" and self.window == "days":
            raise ValueError("positions=all cuts before every behavior; window=days applies to positions=window")
        return self


class TrainerConfig(StrictConfig):
    """Supervised fine-tuning of the embedded model on a training set (loss on the completion only)."""

    method: Literal["lora", "full"] = Field("lora", description="LoRA adapters on every linear layer, or all weights")
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the adapters' input (peft's default 0; "
                                                             "on this CPU 0.05 cost a third of a step)")
    epochs: float = Field(2.0, gt=0)
    lr: float = Field(2e-4, gt=0, description="peak learning rate (warm-up then linear decay)")
    batch_size: int = Field(8, ge=1)
    grad_accum: int = Field(1, ge=1)
    max_length: int = Field(768, ge=64, description="prompt + completion tokens; longer samples are left out")
    eval_every: int = Field(50, ge=1, description="optimizer steps between held-out evaluations and checkpoints")
    checkpoint_minutes: float = Field(
        10.0, ge=0, description="also a checkpoint once this many minutes passed since the last one (0: only every "
                                "eval_every steps), so a killed training loses at most this much work")
    patience: int = Field(3, ge=1, description="held-out evaluations without improvement before stopping")
    bf16: bool | Literal["auto"] = Field(
        "auto", description="bfloat16 autocast (False: float32 throughout); auto: on when the CPU has AMX-BF16, where "
                            "it trains 2.2x faster, off elsewhere, where float32 is 1.35x faster")
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: all cores)")
    seed: int = 0


class Table5Config(StrictConfig):
    """The tag HR@K comparison of the base and the tuned model (report Table 5)."""

    users: int | None = Field(200, ge=1, description="`recgpt align evaluate`: seeded test users (the pipeline "
                                                     "uses its evaluation sample)")
    seed: int = 0
    ks: list[int] = Field(default_factory=lambda: [5, 10, 30])
    interests_per_user: int = Field(3, ge=1, description="interests per user when the interest stage has not "
                                                         "mined any (the user's most frequent history categories)")
    leaves: int = Field(200, ge=2, description="title clusters of the finer granularity")


class CurriculumConfig(StrictConfig):
    """Curriculum multi-task fine-tuning (report Appendix C) on the subtasks of a versioned YAML file."""

    version: str = Field("v1", description="packaged curriculum file alignment/curricula/<version>.yaml")
    file: str | None = Field(None, description="a curriculum YAML of your own (same form; add subtasks there)")
    order: Literal["curriculum", "shuffled", "mixed"] = Field(
        "curriculum", description="curriculum: topological order, lower levels first; shuffled: the same subtasks in "
                                  "a seeded random order; mixed: all subtasks as one set (the report's comparisons)")
    only: list[str] | None = Field(None, description="train only these subtasks (None: all)")
    holdout_share: float = Field(0.1, ge=0, lt=1, description="share of each subtask's samples held out")
    seed: int = 0


class FilterConfig(StrictConfig):
    """What keeps a generated answer: the stage's post-checks, then the judge (report 3: the Human-LLM judge)."""

    judge: bool = Field(True, description="also ask the alignment block's judge; an item must pass every criterion")
    criteria: list[str] | None = Field(None, description="the criteria an item must pass (None: all of its rubric)")
    human_labels: bool = Field(True, description="a human verdict in the judge buffer overrides the LLM judge's")
    min_items: int = Field(1, ge=1, description="an answer keeps at least this many passing items, else it is dropped")
    keep_reasoning: bool = Field(False, description="keep the answer's reasoning in the training completion "
                                                    "(False: stripped before storage and training)")


class DistillConfig(StrictConfig):
    """Pre-alignment by distillation: a teacher answers the stage prompts; kept answers train the student."""

    teacher: LLMConfig = Field(default_factory=LLMConfig, description="the teacher's model: any backend (in practice "
                                                                      "a strong model on an OpenAI-compatible server)")
    tasks: list[Literal["interests", "tags", "explanations"]] = Field(
        default_factory=lambda: ["interests", "tags", "explanations"])
    users: int = Field(50, ge=1, description="a seeded sample of training-fold users per task")
    reasoning: bool = Field(True, description="ask the teacher with the templates that ask for reasoning (v2)")
    filter: FilterConfig = Field(default_factory=FilterConfig)
    holdout_share: float = Field(0.1, ge=0, lt=1, description="share of users whose samples are held out")
    seed: int = 0


class SelfTrainConfig(StrictConfig):
    """Self-training with reject sampling: the student samples k answers per prompt; the kept ones retrain it."""

    rounds: int = Field(2, ge=1, description="at most this many rounds")
    samples: int = Field(4, ge=1, description="k: answers sampled per prompt (seeds seed..seed+k-1)")
    temperature: float = Field(0.8, gt=0, description="sampling temperature of the student")
    users: int = Field(50, ge=1, description="a seeded sample of training-fold users per round")
    heldout_users: int = Field(20, ge=1, description="held-out users whose pass rate decides whether to go on")
    min_gain: float = Field(0.0, ge=0, description="stop when the held-out stop_on figure rises by no more than this")
    stop_on: Literal["pass_rate", "kept_per_answer"] = Field(
        "pass_rate", description="the held-out figure the stop rule watches: the pass rate (items kept / written), "
                                 "or the items kept per answer (a student that learns to write fewer items raises "
                                 "the first, not the second)")
    tasks: list[Literal["interests", "tags", "explanations"]] = Field(default_factory=lambda: ["tags"])
    filter: FilterConfig = Field(default_factory=FilterConfig)
    seed: int = 0


class JudgeTrainingConfig(StrictConfig):
    """`recgpt judge train`: fine-tune the judge's model on the rebalanced human verdicts of the judge buffer
    (report 3: the judge is aligned too), deployed only when its held-out agreement is high enough."""

    heldout_share: float = Field(0.25, gt=0, lt=1, description="share of the labelled outputs (whole outputs, "
                                                                "seeded) held out to measure agreement")
    deploy_accuracy: float = Field(0.7, ge=0, le=1, description="deploy the trained judge only when its held-out "
                                                                "accuracy reaches this and is not below the current's")
    prompt_examples: bool = Field(False, description="show the rubric's examples in the training and evaluation "
                                                     "prompts (longer prompts, slower training)")
    trainer: TrainerConfig = Field(default_factory=lambda: TrainerConfig(epochs=3))
    seed: int = 0


class LoopConfig(StrictConfig):
    """`recgpt align loop`: the report's alignment stages one after another, each a resumable, fingerprinted step."""

    steps: list[Literal["judge_training", "curriculum", "distill", "self_training"]] = Field(
        default_factory=lambda: ["judge_training", "curriculum", "distill", "self_training"],
        description="the steps to run, in this order: the judge's fine-tuning on the buffer's human labels (skipped "
                    "with too few; the judge then filters the rest when deployed), curriculum fine-tuning, "
                    "distillation from the teacher (pre-alignment), self-training rounds; each stage-model step "
                    "continues the adapter of the one before")


class AlignmentConfig(StrictConfig):
    """The alignment block of a pipeline configuration."""

    enabled: bool = Field(False, description="recgpt run: build the tag task's incremental-learning set and "
                                             "fine-tune before the tags stage, which then uses the tuned adapter "
                                             "through the torch engine")
    incremental: IncrementalConfig = Field(default_factory=IncrementalConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    evaluation: Table5Config = Field(default_factory=Table5Config)
    judge: JudgeConfig = Field(default_factory=JudgeConfig, description="the judge alignment asks (incremental."
                                                                        "purify=judge, distillation, self-training); "
                                                                        "its llm block: any backend")
    curriculum: CurriculumConfig = Field(default_factory=CurriculumConfig)
    distill: DistillConfig = Field(default_factory=DistillConfig)
    self_training: SelfTrainConfig = Field(default_factory=SelfTrainConfig)
    loop: LoopConfig = Field(default_factory=LoopConfig)
    judge_training: JudgeTrainingConfig = Field(default_factory=JudgeTrainingConfig)
