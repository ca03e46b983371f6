"""`recgpt align loop`: the report's alignment of a stage model in one command (report 2.1.2, 2.2.1, 2.4.1):
curriculum fine-tuning (Appendix C), pre-alignment by distillation from a teacher, then self-training rounds,
each step continuing the adapter of the one before, and the held-out pass rates of every model.

Each step has a fingerprint (its configuration, the stage and LLM blocks, the data, and the fingerprint of the
step before); ``RUN/alignment/loop.json`` records every finished step with its fingerprint and result, and a
rerun skips a step whose fingerprint is unchanged. A killed step is simply run again: its LLM answers come from
the run's cache and its trainings resume from their checkpoints (``trainer.py``). Every set and adapter is
written under the names :class:`~recgpt.runfolder.RunFolder` gives them; ``RUN/alignment/loop.md`` is the report.
"""

from __future__ import annotations

import hashlib
import json
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Callable

from recgpt.alignment.config import AlignmentConfig
from recgpt.alignment.harvest import StageConfigs
from recgpt.alignment.pass_rates import compare, rates_table
from recgpt.alignment.selftrain import HeldoutEvaluator, RuntimeFactory, self_train
from recgpt.progress import ProgressFn, reporter
from recgpt.stages.postchecks import EmbeddingCache


@dataclass
class LoopInputs:
    """What the loop runs on. ``teacher`` and ``student`` build runtimes (defaults: the configured teacher, the
    torch engine with an adapter); ``judge_backend`` and ``train_fn`` are for tests."""

    run: Any
    dataset: Any
    phi: Any
    alignment: AlignmentConfig
    stages: StageConfigs
    llm: Any
    base: str | None = None
    teacher: Callable[[], Any] | None = None
    student: RuntimeFactory | None = None
    judge_backend: Any = None
    train_fn: Callable | None = None
    build_set: Callable[[str], Any] | None = None
    vectors: EmbeddingCache | None = None
    progress: ProgressFn | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _data_identity(dataset) -> dict[str, Any]:
    return {"name": dataset.name, **{t: getattr(dataset, t).num_rows for t in ("items", "events", "holdout")}}


class LoopState:
    """``loop.json``: step name -> {fingerprint, result, seconds}."""

    def __init__(self, path):
        self.path = path
        self.steps: dict[str, dict[str, Any]] = json.loads(path.read_text())["steps"] if path.exists() else {}

    def done(self, name: str, fingerprint: str) -> dict[str, Any] | None:
        step = self.steps.get(name)
        return step["result"] if step and step["fingerprint"] == fingerprint else None

    def record(self, name: str, fingerprint: str, result: dict[str, Any], seconds: float) -> None:
        self.steps[name] = {"fingerprint": fingerprint, "result": result, "seconds": round(seconds, 1)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"steps": self.steps}, indent=1))
        tmp.replace(self.path)


def run_loop(inputs: LoopInputs) -> dict[str, Any]:
    """Run the configured steps; returns (and writes to ``loop.json`` / ``loop.md``) every step's result."""
    from recgpt.alignment.purify import stage_purifiers
    from recgpt.judge.grade import open_judge

    a, run = inputs.alignment, inputs.run
    say = reporter(inputs.progress)
    state = LoopState(run.loop_state)
    vectors = inputs.vectors or EmbeddingCache()
    student = inputs.student or _student(run, inputs.llm)
    train_fn = inputs.train_fn or _train
    common = {"stages": {t: inputs.stages.of(t).model_dump(mode="json") for t in ("interests", "tags", "explanations")},
              "llm": inputs.llm.model_dump(mode="json", exclude={"progress"}), "base": inputs.base,
              "trainer": a.trainer.model_dump(mode="json", exclude={"checkpoint_minutes"}),
              "data": _data_identity(inputs.dataset), "judge": a.judge.model_dump(mode="json")}
    previous, adapter = _digest(common), None
    results: dict[str, Any] = {}
    tasks = list(dict.fromkeys(list(a.distill.tasks) + list(a.self_training.tasks)))
    plan = _plan(a, tasks)

    def step(name: str, config: Any, body: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        nonlocal previous
        fingerprint = _digest({"step": name, "config": config, "previous": previous})
        found = state.done(name, fingerprint)
        if found is None:
            say(f"alignment loop: {name}", len(results), len(plan))
            start = time.perf_counter()
            found = body()
            state.record(name, fingerprint, found, time.perf_counter() - start)
        previous = fingerprint
        results[name] = found
        return found

    if "judge_training" in a.loop.steps:
        step("judge-training", {"training": a.judge_training.model_dump(mode="json"),
                                "labels": _labels_identity(run, a)}, lambda: _judge_training(inputs))
    with ExitStack() as stack:
        judge, buffer, round = stack.enter_context(open_judge(run.root, a.judge, inputs.judge_backend))

        def purifiers(filter) -> dict[str, Any]:
            return stage_purifiers(judge, buffer, round, filter, tasks)

        adapters: dict[str, str | None] = {}
        if "curriculum" in a.loop.steps:
            from recgpt.alignment.curriculum import run_curriculum

            def curriculum() -> dict[str, Any]:
                steps = run_curriculum(run, inputs.dataset, a.curriculum, a.trainer, inputs.llm, inputs.base,
                                       inputs.build_set, inputs.progress, train=train_fn)
                last = next((s.adapter for s in reversed(steps) if s.adapter), None)
                return {"adapter": last, "steps": [s.__dict__ for s in steps]}

            adapter = step("curriculum", a.curriculum.model_dump(mode="json"), curriculum)["adapter"]
        adapters["curriculum"] = adapter
        for task in a.distill.tasks if "distill" in a.loop.steps else []:
            def distill(task=task, start=adapter) -> dict[str, Any]:
                from recgpt.alignment.distill import distill_set

                with _teacher(inputs) as teacher:
                    training_set, harvest = distill_set(run, inputs.dataset, inputs.phi, task, a, inputs.stages,
                                                        teacher, purifiers(a.distill.filter), vectors,
                                                        system_prompt=inputs.llm.system_prompt)
                out = {"set": str(run.distill_set(task)), "samples": len(training_set.samples),
                       "harvest": harvest.summary(), "adapter": start}
                if training_set.split("train"):
                    trained = train_fn(training_set, run.distill_model(task), a.trainer, inputs.base, start,
                                       inputs.progress)
                    out.update(adapter=str(trained.folder), training=trained.manifest.get("metrics", {}))
                return out

            config = a.distill.model_dump(mode="json", exclude={"teacher": {"progress"}})
            adapters[f"distill-{task}"] = step(f"distill-{task}", config, distill)["adapter"]
        for task in a.self_training.tasks if "self_training" in a.loop.steps else []:
            start = adapters.get(f"distill-{task}", adapter)

            def rounds(task=task, start=start) -> dict[str, Any]:
                result = self_train(run, inputs.dataset, inputs.phi, task, a, inputs.stages, student,
                                    purifiers(a.self_training.filter), start, inputs.base, train_fn, vectors,
                                    inputs.llm.system_prompt, inputs.progress)
                return result.as_dict()

            step(f"self-{task}", a.self_training.model_dump(mode="json"), rounds)
        for task in tasks:
            def evaluate(task=task) -> dict[str, Any]:
                evaluator = HeldoutEvaluator(run, inputs.dataset, inputs.phi, task, a, inputs.stages, student,
                                             purifiers(a.self_training.filter), vectors, inputs.llm.system_prompt)
                models: dict[str, str | None] = {"base": None}
                if adapters.get("curriculum"):
                    models["curriculum"] = adapters["curriculum"]
                if adapters.get(f"distill-{task}") not in (None, adapters.get("curriculum")):
                    models["distillation"] = adapters[f"distill-{task}"]
                return compare(evaluator, models)

            step(f"evaluate-{task}", {"task": task, "adapters": adapters}, evaluate)
    write_report(run, results)
    return results


def _labels_identity(run, a: AlignmentConfig) -> dict[str, Any]:
    """What the judge's training reads: the buffer's human verdicts (count and newest)."""
    from recgpt.judge.grade import open_buffer

    buffer = open_buffer(run.root, a.judge)
    try:
        human = buffer.verdicts(source="human")
        return {"human": len(human), "newest": max((v.created_at for v in human), default=0)}
    finally:
        buffer.close()


def _judge_training(inputs: LoopInputs) -> dict[str, Any]:
    """Train (and maybe deploy) the judge on the buffer's human labels; skipped when there are too few."""
    from recgpt.alignment.judge_training import judge_runtime_factory, labelled, split, train_judge
    from recgpt.judge.grade import open_buffer

    a, run = inputs.alignment, inputs.run
    buffer = open_buffer(run.root, a.judge)
    try:
        verdicts = labelled(buffer)
        train_part, held = split(verdicts, a.judge_training.heldout_share, a.judge_training.seed)
        if not train_part or not held:
            return {"skipped": f"{len(verdicts)} human verdicts in the buffer: too few to train and hold out"}
        make = inputs.extra.get("judge_runtime") or judge_runtime_factory(run, a.judge.llm)
        return train_judge(run, buffer, a.judge_training, a.judge.rebalance, a.judge.llm, make, inputs.base,
                           inputs.train_fn or _train, a.judge.llm.template_dirs, a.judge.template_version,
                           inputs.progress)
    finally:
        buffer.close()


def _plan(a: AlignmentConfig, tasks: list[str]) -> list[str]:
    out = ["judge-training"] if "judge_training" in a.loop.steps else []
    out += ["curriculum"] if "curriculum" in a.loop.steps else []
    out += [f"distill-{t}" for t in a.distill.tasks] if "distill" in a.loop.steps else []
    out += [f"self-{t}" for t in a.self_training.tasks] if "self_training" in a.loop.steps else []
    return out + [f"evaluate-{t}" for t in tasks]


def _train(*args, **kwargs):
    from recgpt.alignment.trainer import train

    return train(*args, **kwargs)


def _student(run, llm) -> RuntimeFactory:
    from recgpt.alignment.selftrain import student_runtime

    return student_runtime(run, llm)


def _teacher(inputs: LoopInputs):
    if inputs.teacher is not None:
        return inputs.teacher()
    from recgpt.llm.runtime import LLMRuntime

    return LLMRuntime(inputs.alignment.distill.teacher, cache_path=inputs.run.llm_cache,
                      usage_path=inputs.run.llm_usage)


def write_report(run, results: dict[str, Any]) -> None:
    """``loop.md``: held-out pass rates per task and model (base, curriculum, distillation, each self-training
    round), per criterion, then each step's set, kept samples, time and tokens."""
    lines = ["# Alignment loop", ""]
    for name, result in results.items():
        if not name.startswith("evaluate-"):
            continue
        task = name.removeprefix("evaluate-")
        rows = dict(result["rates"])
        self_result = results.get(f"self-{task}")
        for r in (self_result or {}).get("rounds", []):
            if r.get("heldout"):
                rows[f"self-training round {r['round']}"] = r["heldout"]
        lines += [f"## {task}: held-out pass rates ({result['users']} users)", "", *rates_table(rows)]
        if self_result:
            lines += ["", f"Self-training stopped: {self_result['stopped']}."]
        lines.append("")
    judge = results.get("judge-training") or {}
    if "after" in judge:
        lines += ["## judge: agreement with held-out human labels (Table 9 form)", "",
                  "| judge | task | n | accuracy | precision | recall | F1 |", "|---|---|---:|---:|---:|---:|---:|"]
        for when in ("before", "after"):
            for task, m in judge[when].items():
                if isinstance(m, dict) and m:
                    lines.append(f"| {when} | {task} | {m['n']} | {m['accuracy']:.3f} | {m['precision']:.3f} | "
                                 f"{m['recall']:.3f} | {m['f1']:.3f} |")
        lines += ["", ("Deployed: " if judge["deployed"] else "Not deployed: ") + judge["reason"] + ".", ""]
    elif judge:
        lines += ["## judge", "", f"Judge training skipped: {judge['skipped']}.", ""]
    lines += ["## Steps", "", "| step | samples | seconds | prompt tokens | completion tokens | adapter |",
              "|---|---:|---:|---:|---:|---|"]
    state = LoopState(run.loop_state).steps
    for name, result in results.items():
        harvest = result.get("harvest", {})
        tokens = harvest.get("tokens", {})
        if name.startswith("self-"):
            tokens = {k: sum(r["harvest"].get("tokens", {}).get(k, 0) for r in result["rounds"])
                      for k in ("prompt", "completion")}
        samples = result.get("samples", result.get("training_samples", sum(
            r.get("samples", 0) for r in result.get("rounds", result.get("steps", [])))))
        lines.append(f"| {name} | {samples if not name.startswith('evaluate') else ''} | "
                     f"{state.get(name, {}).get('seconds', '')} | {tokens.get('prompt', '')} | "
                     f"{tokens.get('completion', '')} | {result.get('adapter') or ''} |")
    run.loop_report.parent.mkdir(parents=True, exist_ok=True)
    run.loop_report.write_text("\n".join(lines) + "\n")
