"""Self-training evolution with reject sampling (report 2.1.2, 2.2.1, 2.4.1): in each round the student samples
``k`` answers per prompt (seeded sampling through the engine: seeds differ, the temperature is above zero), the
post-checks and the judge keep the good ones (:mod:`recgpt.alignment.harvest`), the kept answers become the
round's training set (``RUN/alignment/sets/<task>-self-r<N>.parquet``, source ``self``), and the student is
retrained from its current adapter (``RUN/alignment/models/<task>-self-r<N>/``).

Before the first round and after every round the student answers the held-out users' prompts greedily, and the
share of its items that pass (post-checks and judge) is the held-out pass rate; the rounds stop after
``self_training.rounds`` or as soon as that rate rises by no more than ``min_gain``. Every answer goes through
the run's LLM cache and every training resumes, so a killed run picks up where it stopped.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from recgpt.alignment.config import AlignmentConfig
from recgpt.alignment.distill import split_users
from recgpt.alignment.harvest import Harvester, StageConfigs, stage_prompts
from recgpt.alignment.records import TrainingSet
from recgpt.stages.postchecks import EmbeddingCache

BUILDER = "self-training.v1"
#: (adapter folder or None, temperature) -> an LLMRuntime (a context manager) answering as the student.
RuntimeFactory = Callable[[Any, float], AbstractContextManager]


@dataclass
class RoundResult:
    round: int
    samples: int
    adapter: str | None
    harvest: dict[str, Any]
    heldout: dict[str, float]
    training: dict[str, Any] = field(default_factory=dict)


@dataclass
class SelfTrainingResult:
    task: str
    start: dict[str, float]
    rounds: list[RoundResult]
    stopped: str
    adapter: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def student_runtime(run, llm) -> RuntimeFactory:
    """The factory of the student's runtime: the torch engine with ``adapter``, through the run's cache."""
    from recgpt.llm.runtime import LLMRuntime

    def make(adapter, temperature: float):
        config = llm.model_copy(update={"backend": "torch.v1", "temperature": temperature})
        config = config.with_options("torch", adapter=str(adapter) if adapter else None)
        return LLMRuntime(config, cache_path=run.llm_cache, usage_path=run.llm_usage)

    return make


class HeldoutEvaluator:
    """The held-out pass rates of a model on ``task``: the student answers the held-out users' prompts greedily,
    and the share of its items passing the post-checks and each judge criterion is measured (the report's
    Tables 2, 4 and 7 in form). The held-out users are those of ``self_training`` (seeded, never trained on)."""

    def __init__(self, run, dataset, phi, task: str, alignment: AlignmentConfig, stages: StageConfigs,
                 make_runtime: RuntimeFactory, purifiers: dict | None = None, vectors: EmbeddingCache | None = None,
                 system_prompt: str | None = None):
        config = alignment.self_training
        self.vectors = vectors or EmbeddingCache()
        self.users, self.heldout = split_users(dataset, config.users, config.heldout_users, config.seed)
        self.prompts = stage_prompts(task, run, dataset, self.heldout, stages, phi, self.vectors)
        brands = sorted({b for b in dataset.items.column("brand").to_pylist() if b})
        self.harvester = Harvester(stages, config.filter, purifiers, self.vectors, brands, system_prompt)
        self.make_runtime = make_runtime

    def __call__(self, adapter) -> dict[str, float]:
        """Pass rate per criterion and ``overall``, with the items written and kept per answer (``yields``)."""
        with self.make_runtime(adapter, 0.0) as runtime:
            harvest = self.harvester.run(self.prompts, runtime, source="heldout")
        return {**harvest.rates(), **harvest.yields()}


def self_train(run, dataset, phi, task: str, alignment: AlignmentConfig, stages: StageConfigs,
               make_runtime: RuntimeFactory, purifiers: dict | None = None, adapter: str | None = None,
               base: str | None = None, train_fn=None, vectors: EmbeddingCache | None = None,
               system_prompt: str | None = None, progress=None) -> SelfTrainingResult:
    """Self-training rounds of ``task`` from ``adapter`` (None: the base model); ``train_fn`` defaults to the
    alignment trainer's ``train``."""
    if train_fn is None:
        from recgpt.alignment.trainer import train as train_fn
    config = alignment.self_training
    heldout_rates = HeldoutEvaluator(run, dataset, phi, task, alignment, stages, make_runtime, purifiers, vectors,
                                     system_prompt)
    harvester = heldout_rates.harvester
    train_prompts = stage_prompts(task, run, dataset, heldout_rates.users, stages, phi, heldout_rates.vectors)
    version = stages.of(task).template_version

    watched, label = {"pass_rate": ("overall", "pass rate"),
                      "kept_per_answer": ("kept_per_answer", "items kept per answer")}[config.stop_on]
    start = heldout_rates(adapter)
    best, rounds, stopped = start[watched], [], f"{config.rounds} rounds done"
    for n in range(1, config.rounds + 1):
        seeds = [config.seed + 1000 * n + j for j in range(config.samples)]
        with make_runtime(adapter, config.temperature) as runtime:
            harvest = harvester.run(train_prompts, runtime, seeds=seeds, source="self", round=n)
        training_set = TrainingSet(harvest.samples, BUILDER, task, version,
                                   {"self_training": config.model_dump(mode="json"), "round": n, "seeds": seeds,
                                    "from_adapter": adapter}, {k: int(v) for k, v in harvest.counts.items()})
        path = training_set.write(run.self_set(task, n))
        training_set.export_jsonl(path.with_suffix(".jsonl"))
        if not training_set.samples:
            rounds.append(RoundResult(n, 0, adapter, harvest.summary(), {}))
            stopped = f"round {n} kept no answer"
            break
        result = train_fn(training_set, run.self_model(task, n), alignment.trainer, base, adapter, progress)
        adapter = str(result.folder)
        rates = heldout_rates(adapter)
        rounds.append(RoundResult(n, len(training_set.samples), adapter, harvest.summary(), rates,
                                  dict(result.manifest.get("metrics", {}))))
        if rates[watched] - best <= config.min_gain:
            stopped = (f"round {n}: held-out {label} {rates[watched]:.3f} did not rise by more than "
                       f"{config.min_gain:g} over {best:.3f}")
            break
        best = rates[watched]
    return SelfTrainingResult(task, start, rounds, stopped, adapter)
