"""Pre-alignment by distillation (report 2.1.2, 2.2.1, 2.4.1: reasoning-enhanced pre-alignment): a teacher
answers the stage prompts for a seeded sample of users, the post-checks and the judge keep the good parts
(:mod:`recgpt.alignment.harvest`), and the kept answers become the training set ``<task>-teacher`` (source
``teacher``) on which the student is fine-tuned.

    training_set, harvest = distill_set(run, dataset, phi, "tags", alignment, stages, teacher_runtime, purifiers)
    result = train(training_set, run.distill_model("tags"), alignment.trainer, base)

The teacher is any configured backend (``alignment.distill.teacher``: in practice a strong model on an
OpenAI-compatible server; on a laptop the embedded model or a scripted server). It is asked with the templates
that ask for reasoning when ``distill.reasoning`` is on; the student's samples are rendered with the stage's own
template, and the teacher's reasoning is stripped unless ``filter.keep_reasoning``.
"""

from __future__ import annotations

import random

from recgpt.alignment.config import AlignmentConfig
from recgpt.alignment.harvest import Harvester, HarvestResult, StageConfigs, stage_prompts, with_reasoning
from recgpt.alignment.records import TrainingSet
from recgpt.stages.postchecks import EmbeddingCache

BUILDER = "distill.v1"


def split_users(dataset, train: int, heldout: int, seed: int, fold: str = "dev") -> tuple[list[str], list[str]]:
    """Seeded, disjoint (training users, held-out users) among the users with a target in ``fold``; the held-out
    users are the same for every step of a run that uses the same seed and count (pass rates compare)."""
    from recgpt.stages.context import sample_users

    everyone = sample_users(dataset, None, 0, fold)
    order = random.Random(seed).sample(everyone, len(everyone))
    return sorted(order[heldout:heldout + train]), sorted(order[:heldout])


def distill_set(run, dataset, phi, task: str, alignment: AlignmentConfig, stages: StageConfigs, teacher_runtime,
                purifiers: dict | None = None, vectors: EmbeddingCache | None = None,
                users: list[str] | None = None, system_prompt: str | None = None
                ) -> tuple[TrainingSet, HarvestResult]:
    """The teacher's kept answers for ``task`` as a training set (written to ``RUN/alignment/sets/<task>-teacher``
    with its JSON Lines export), and the harvest's counts and pass rates. ``system_prompt``: the student's."""
    config = alignment.distill
    vectors = vectors or EmbeddingCache()
    if users is None:
        users, _ = split_users(dataset, config.users, alignment.self_training.heldout_users,
                               alignment.self_training.seed)
    prompts = stage_prompts(task, run, dataset, users, stages, phi, vectors)
    asked = prompts
    if config.reasoning:
        teacher_stages = StageConfigs(with_reasoning(stages.interests, True), with_reasoning(stages.tags, True),
                                      with_reasoning(stages.explanations, True))
        asked = stage_prompts(task, run, dataset, users, teacher_stages, phi, vectors)
        if [p.request.key for p in asked] != [p.request.key for p in prompts]:
            raise RuntimeError("the teacher's prompts do not line up with the student's")
    heldout_users = set(random.Random(config.seed).sample(users, int(round(len(users) * config.holdout_share))))
    brands = sorted({b for b in dataset.items.column("brand").to_pylist() if b})
    harvester = Harvester(stages, config.filter, purifiers, vectors, brands, system_prompt)
    result = harvester.run(prompts, teacher_runtime, ask=[p.request for p in asked], source="teacher",
                           heldout=heldout_users)
    version = stages.of(task).template_version
    training_set = TrainingSet(result.samples, BUILDER, task, version,
                               {"distill": config.model_dump(mode="json", exclude={"teacher"}),
                                "teacher": f"{teacher_runtime.backend.name}:{teacher_runtime.backend.model_id}",
                                "users": len(users)},
                               {k: int(v) for k, v in result.counts.items()})
    path = training_set.write(run.distill_set(task))
    training_set.export_jsonl(path.with_suffix(".jsonl"))
    return training_set, result
