"""Curriculum multi-task fine-tuning (report Appendix C): preparatory subtasks, declared in a versioned YAML file
(``alignment/curricula/v1.yaml``) with a level and dependencies, trained in topological order.

    curriculum = load_curriculum()                 # the packaged v1, or load_curriculum("my.yaml")
    [s.name for s in curriculum.order()]           # dependencies first, lower levels first, then by name
    result = run_curriculum(run, dataset, CurriculumConfig(), TrainerConfig(), llm)

Levels rank foundation < intermediate < advanced; a subtask may depend only on subtasks of its own or a lower
level, and a dependency cycle is an error naming the cycle. Each subtask's set is built by its registered builder
(:mod:`recgpt.alignment.subtasks`) and written to ``RUN/alignment/sets/curriculum-<name>.parquet``; training runs
subtask by subtask, each continuing the previous subtask's LoRA adapter, into
``RUN/alignment/models/curriculum-<name>/``; every training is resumable and a finished one is not redone.
``order: shuffled`` trains the same subtasks in a seeded random order, ``order: mixed`` all of them as one set
(the two comparisons of the report's curriculum).
"""

from __future__ import annotations

import graphlib
import heapq
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from recgpt.alignment.config import CurriculumConfig, TrainerConfig
from recgpt.alignment.records import TrainingSet
from recgpt.alignment.subtasks import SubtaskInputs, SubtaskSpec
from recgpt.errors import RecgptError

LEVELS = ("foundation", "intermediate", "advanced")
CURRICULA = Path(__file__).parent / "curricula"
_KEYS = {"name", "level", "builder", "depends_on", "samples", "options"}


class CurriculumError(RecgptError, ValueError):
    """A curriculum file that cannot be trained: unknown keys, levels, builders or dependencies, or a cycle."""


@dataclass
class Curriculum:
    version: str
    subtasks: list[SubtaskSpec]
    source: str = ""

    def get(self, name: str) -> SubtaskSpec:
        return next(s for s in self.subtasks if s.name == name)

    def order(self) -> list[SubtaskSpec]:
        """A topological order of ``depends_on``; among the subtasks ready at each point, the lowest level
        first, then by name (so the order is the same on every machine)."""
        graph = graphlib.TopologicalSorter({s.name: set(s.depends_on) for s in self.subtasks})
        try:
            graph.prepare()
        except graphlib.CycleError as exc:
            cycle = " -> ".join(exc.args[1]) if len(exc.args) > 1 else "?"
            raise CurriculumError(f"curriculum {self.source}: a dependency cycle: {cycle}") from None
        rank = {s.name: (LEVELS.index(s.level), s.name) for s in self.subtasks}
        ready: list[tuple[tuple[int, str], str]] = []
        out: list[SubtaskSpec] = []
        while graph.is_active():
            for name in graph.get_ready():
                heapq.heappush(ready, (rank[name], name))
            _, name = heapq.heappop(ready)
            out.append(self.get(name))
            graph.done(name)
        return out


def curriculum_path(version: str = "v1", file: str | Path | None = None) -> Path:
    path = Path(file) if file else CURRICULA / f"{version}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in CURRICULA.glob("v*.yaml"))
        raise CurriculumError(f"{path}: no curriculum file here (packaged versions: {known})")
    return path


def load_curriculum(file: str | Path | None = None, version: str = "v1") -> Curriculum:
    """Read and check a curriculum file (the packaged ``version`` when ``file`` is None)."""
    from recgpt import registry

    path = curriculum_path(version, file)
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict) or not isinstance(raw.get("subtasks"), list) or not raw["subtasks"]:
        raise CurriculumError(f"{path}: expected a mapping with a non-empty list `subtasks`")
    specs: list[SubtaskSpec] = []
    for n, entry in enumerate(raw["subtasks"], 1):
        where = f"{path}: subtask {n}"
        if not isinstance(entry, dict):
            raise CurriculumError(f"{where}: expected a mapping")
        unknown = set(entry) - _KEYS
        if unknown:
            raise CurriculumError(f"{where}: unknown keys {sorted(unknown)} (allowed: {sorted(_KEYS)})")
        for key in ("name", "level", "builder"):
            if not entry.get(key):
                raise CurriculumError(f"{where}: `{key}` is required")
        if entry["level"] not in LEVELS:
            raise CurriculumError(f"{where} ({entry['name']}): level {entry['level']!r} is not one of {LEVELS}")
        if entry["builder"] not in registry.subtasks:
            raise CurriculumError(f"{where} ({entry['name']}): unknown builder {entry['builder']!r} "
                                  f"(registered: {registry.subtasks.names()})")
        samples = entry.get("samples")
        if samples is not None and (not isinstance(samples, int) or samples < 1):
            raise CurriculumError(f"{where} ({entry['name']}): samples must be a positive integer")
        specs.append(SubtaskSpec(str(entry["name"]), entry["level"], registry.subtasks.checked(entry["builder"]),
                                 [str(d) for d in entry.get("depends_on") or []], samples,
                                 dict(entry.get("options") or {})))
    names = [s.name for s in specs]
    if len(set(names)) < len(names):
        raise CurriculumError(f"{path}: subtask names repeat: {sorted({n for n in names if names.count(n) > 1})}")
    level = {s.name: LEVELS.index(s.level) for s in specs}
    for s in specs:
        for dep in s.depends_on:
            if dep not in level:
                raise CurriculumError(f"{path}: {s.name} depends on {dep!r}, which is not declared")
            if level[dep] > level[s.name]:
                raise CurriculumError(f"{path}: {s.name} ({s.level}) depends on {dep} of a higher level")
    curriculum = Curriculum(str(raw.get("version", version)), specs, str(path))
    curriculum.order()  # a cycle is an error at load time
    return curriculum


def build_subtask(spec: SubtaskSpec, inputs: SubtaskInputs) -> TrainingSet:
    from recgpt import registry

    return registry.subtasks.get(spec.builder)(inputs, spec)


def training_plan(curriculum: Curriculum, config: CurriculumConfig) -> list[list[SubtaskSpec]]:
    """Groups of subtasks trained one after another: one each in topological order (``curriculum``), one each
    in a seeded random order (``shuffled``), or one group of all (``mixed``)."""
    order = [s for s in curriculum.order() if config.only is None or s.name in config.only]
    if config.order == "shuffled":
        random.Random(config.seed).shuffle(order)
    return [order] if config.order == "mixed" else [[s] for s in order]


def merged(sets: list[TrainingSet], seed: int) -> TrainingSet:
    """One set of every subtask's samples, shuffled with ``seed`` (``order: mixed``)."""
    samples = [s for t in sets for s in t.samples]
    random.Random(seed).shuffle(samples)
    return TrainingSet(samples, "curriculum-mixed.v1", "curriculum-mixed", "+".join(t.template_version for t in sets),
                       {"subtasks": [t.task for t in sets]}, {"kept": len(samples)})


@dataclass
class CurriculumStep:
    """One training of the plan: its name, subtasks, sample counts, the adapter it wrote, its figures."""

    name: str
    subtasks: list[str]
    samples: int
    adapter: str | None
    metrics: dict[str, Any]


def run_curriculum(run, dataset, config: CurriculumConfig, trainer: TrainerConfig, llm, base: str | None = None,
                   build_set=None, progress=None, tag: str = "", train=None) -> list[CurriculumStep]:
    """Build every subtask's set and train the plan, each training continuing the previous adapter; writes
    ``RUN/alignment/curriculum-<order><tag>.json`` (the plan, counts and figures) and returns the steps.
    ``train`` defaults to the alignment trainer's."""
    from recgpt.llm.prompts import PromptLibrary

    if train is None:
        from recgpt.alignment.trainer import train

    curriculum = load_curriculum(config.file, config.version)
    inputs = SubtaskInputs(dataset, PromptLibrary(llm.template_dirs), llm.system_prompt, config.seed,
                           config.holdout_share, run, build_set)
    steps: list[CurriculumStep] = []
    adapter = None
    for group in training_plan(curriculum, config):
        sets = []
        for spec in group:
            built = build_subtask(spec, inputs)
            if built.samples:
                built.write(run.curriculum_set(spec.name))
                sets.append(built)
        if not sets:
            steps.append(CurriculumStep("+".join(s.name for s in group), [s.name for s in group], 0, adapter,
                                        {"skipped": "no samples (a stage set not built yet?)"}))
            continue
        step_set = sets[0] if len(sets) == 1 else merged(sets, config.seed)
        name = f"{config.order}{tag}-{group[0].name}" if len(group) == 1 else f"mixed{tag}"
        result = train(step_set, run.curriculum_model(name), trainer, base, adapter, progress)
        adapter = str(result.folder)
        steps.append(CurriculumStep(name, [s.name for s in group], len(step_set.samples), adapter,
                                    result.manifest.get("metrics", {})))
    path = run.curriculum_report(f"{config.order}{tag}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"curriculum": curriculum.source, "version": curriculum.version,
                                "order": config.order, "steps": [asdict(s) for s in steps]}, indent=1))
    return steps
