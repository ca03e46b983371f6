"""``recgpt align``: training sets for the stage models, fine-tuning, and the report's Table 5.

    recgpt align --run runs/office                         # build the incremental-learning set, then fine-tune
    recgpt align build-il --run runs/office --set incremental.positions=all
    recgpt align train --run runs/office --set trainer.method=full
    recgpt align train --run runs/office --set-name tags-il-new --name tags-il-continued --from-adapter \\
        runs/office/alignment/models/tags-il/adapter   # incremental learning: continue on a newer window
    recgpt align evaluate --run runs/office --users 200    # tag HR@K, base against tuned (Table 5)
    recgpt align curriculum --run runs/office --set curriculum.order=mixed   # Appendix C subtasks, in order
    recgpt align distill --run runs/office --task tags     # teacher answers -> <task>-teacher set -> student
    recgpt align self-train --run runs/office --task tags --from-adapter runs/office/alignment/models/tags-teacher/adapter
    recgpt align loop --run runs/office                    # curriculum, distillation, self-training, report
    recgpt align pass-rates --run runs/office --task interests --model tags-il   # held-out pass rates, side by side

Settings come from ``--config`` (a pipeline YAML with an ``alignment`` block, or the block alone), else from
``RUN/config.yaml``, then ``--set KEY=VALUE`` (keys of the alignment block: ``incremental.last_n=5``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from recgpt.runfolder import RunFolder

align_app = typer.Typer(help="Align the stage models: training sets from logs, fine-tuning, Table 5.")

RUN = typer.Option(..., "--run", help="run folder with data/ and phi/ (see `recgpt data load`, `recgpt train-phi`)")
CONFIG = typer.Option(None, "--config", "-c", help="YAML with an alignment block (a pipeline YAML works)")
SETTINGS = typer.Option([], "--set", help="one alignment key, e.g. trainer.epochs=1 (repeatable)")
SET_NAME = typer.Option("tags-il", "--set-name", help="training set name: RUN/alignment/sets/<name>.parquet")
MODEL_NAME = typer.Option("tags-il", "--name", help="tuned model name: RUN/alignment/models/<name>/")


def _configs(run: RunFolder, config: Optional[Path], settings: list[str]):
    """(alignment, tags, llm) configuration blocks of the run or ``--config``."""
    from recgpt.alignment.config import AlignmentConfig
    from recgpt.cli.stages import block_config
    from recgpt.config import load_block
    from recgpt.llm.config import LLMConfig
    from recgpt.stages.config import TagsConfig

    path = config if config is not None else (run.config if run.config.exists() else None)
    alignment = load_block(AlignmentConfig, path, "alignment", settings=settings)
    return alignment, block_config(config, run, "tags", TagsConfig, {}), block_config(config, run, "llm", LLMConfig, {})


def _build(run: RunFolder, config, settings, name: str):
    from recgpt.alignment.runner import build_incremental_set
    from recgpt.stages.phi import TagToCategory
    from recgpt.stages.runner import load_run_dataset

    alignment, tags, llm = _configs(run, config, settings)
    training_set = build_incremental_set(run, load_run_dataset(run), TagToCategory.load(run.phi), tags,
                                         alignment.incremental, llm, name, judge=alignment.judge)
    typer.echo(f"{len(training_set.split('train'))} training + {len(training_set.split('heldout'))} held-out "
               f"samples -> {run.training_set(name)} (and .jsonl)")
    typer.echo(json.dumps(training_set.counts, indent=1))


def _train(run: RunFolder, config, settings, set_name: str, name: str, from_adapter: Optional[Path]):
    from recgpt.alignment.runner import tune

    alignment, tags, llm = _configs(run, config, settings)
    result = tune(run, tags, alignment.trainer, llm, set_name, name, from_adapter)
    typer.echo(f"{result.manifest['method']} -> {result.folder}")
    typer.echo(json.dumps(result.manifest["metrics"], indent=1))


@align_app.callback(invoke_without_command=True)
def align(ctx: typer.Context, run: Optional[Path] = typer.Option(None, "--run", help="run folder"),
          config: Optional[Path] = CONFIG, settings: list[str] = SETTINGS) -> None:
    """Build the tag task's incremental-learning set, then fine-tune the tag model on it (resumable)."""
    if ctx.invoked_subcommand is not None:
        return
    if run is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(2)
    _build(RunFolder(run), config, settings, "tags-il")
    _train(RunFolder(run), config, settings, "tags-il", "tags-il", None)


@align_app.command("build-il")
def build_il(run: Path = RUN, config: Optional[Path] = CONFIG, settings: list[str] = SETTINGS,
             name: str = SET_NAME) -> None:
    """The incremental-learning set of the tag task (report 2.2.2) -> RUN/alignment/sets/<name>.parquet."""
    _build(RunFolder(run), config, settings, name)


@align_app.command("train")
def train_command(run: Path = RUN, config: Optional[Path] = CONFIG, settings: list[str] = SETTINGS,
                  set_name: str = SET_NAME, name: str = MODEL_NAME,
                  from_adapter: Optional[Path] = typer.Option(None, "--from-adapter",
                                                              help="continue this LoRA adapter (incremental)")) -> None:
    """Fine-tune the tag model on a training set -> RUN/alignment/models/<name>/ (a killed run resumes)."""
    _train(RunFolder(run), config, settings, set_name, name, from_adapter)


@align_app.command("evaluate")
def evaluate_command(
    run: Path = RUN, config: Optional[Path] = CONFIG, settings: list[str] = SETTINGS,
    models: list[str] = typer.Option(["tags-il"], "--model", help="tuned model name(s) under RUN/alignment/models"),
    users: Optional[int] = typer.Option(None, "--users", help="seeded test users (default: evaluation.users)"),
    retrieval: bool = typer.Option(True, "--retrieval/--no-retrieval",
                                   help="also rank the catalog with each model's tags (needs RUN/retriever)"),
) -> None:
    """Report Table 5: tag HR@K of the base and the tuned model(s) on the same test users, beside the no-LLM
    baselines, at the category and leaf granularity -> RUN/alignment/table5.json."""
    from recgpt.alignment.evaluate import evaluate_tag_models
    from recgpt.stages.context import sample_users
    from recgpt.retrieval.saved import SAVED_MODEL
    from recgpt.stages.phi import TagToCategory
    from recgpt.stages.runner import load_run_dataset

    folder = RunFolder(run)
    alignment, tags, llm = _configs(folder, config, settings)
    table_config = alignment.evaluation.model_copy(update={"users": users or alignment.evaluation.users})
    adapters = _adapters(folder, models)
    dataset = load_run_dataset(folder)
    chosen = sample_users(dataset, table_config.users, table_config.seed, "test")
    table, tag_tables = evaluate_tag_models(folder, dataset, TagToCategory.load(folder.phi), tags, llm, adapters,
                                            chosen, table_config, folder.alignment / "evaluation-cache.sqlite")
    if retrieval and (folder.retriever / SAVED_MODEL).exists():
        table.downstream = _downstream(folder, config, dataset, tag_tables, chosen)
    elif retrieval:
        typer.echo(f"no trained retriever in {folder.retriever}: retrieval with each model's tags skipped "
                   f"(`recgpt run --run-dir {run} --until retriever` trains it)")
    table.write(folder.table5)
    typer.echo(table.as_markdown())
    typer.echo(f"-> {folder.table5}")


def _adapters(folder: RunFolder, models: list[str]) -> dict[str, Optional[Path]]:
    """``{"base": None, name: LoRA adapter folder}`` for tuned models under ``RUN/alignment/models``; a name
    without a finished LoRA training there is an error naming the folder."""
    from recgpt.alignment.trainer import finished_result
    from recgpt.errors import MissingInputError

    adapters: dict[str, Optional[Path]] = {"base": None}
    for name in models:
        result = finished_result(folder.tuned_model(name))
        if result is None or result.adapter is None:
            raise MissingInputError(f"{folder.tuned_model(name)}: no finished LoRA training here "
                                    f"(run `recgpt align train --run {folder.root} --name {name}`)")
        adapters[name] = result.adapter
    return adapters


def _downstream(folder: RunFolder, config: Optional[Path], dataset, tag_tables: dict, users: list[str]) -> dict:
    """Retrieval with each model's tags, fused at the run's dev-tuned beta (tuned here on dev when the run has
    none), with the cut-offs of the configuration's evaluation block."""
    from recgpt.alignment.downstream import downstream_retrieval, tuned_beta
    from recgpt.cli.stages import block_config
    from recgpt.pipeline.artifacts import read_json
    from recgpt.pipeline.config import EvaluationConfig
    from recgpt.retrieval.saved import load_model

    cfg = block_config(config, folder, "evaluation", EvaluationConfig, {})
    model = load_model(folder.retriever)
    beta, source = tuned_beta(model, dataset, read_json(folder.tuning, None), cfg.beta_grid, cfg.k_main,
                              cfg.tune_users, cfg.seed, cfg.beta_criterion, cfg.beta_tolerance)
    typer.echo(f"fusion weight beta={beta:g}: {source}")
    return {**downstream_retrieval(model, dataset, tag_tables, users, beta, cfg.ks, cfg.k_main),
            "beta_source": source}


def _loop_inputs(run: RunFolder, config: Optional[Path], settings: list[str]):
    """The loop's inputs from the run folder and configuration (phi when the run has trained it)."""
    from recgpt.alignment.harvest import StageConfigs
    from recgpt.alignment.loop import LoopInputs
    from recgpt.alignment.runner import base_model, build_incremental_set
    from recgpt.cli.stages import block_config
    from recgpt.stages.config import ExplanationsConfig, InterestsConfig
    from recgpt.stages.phi import TagToCategory
    from recgpt.stages.runner import load_run_dataset

    alignment, tags, llm = _configs(run, config, settings)
    interests = block_config(config, run, "interests", InterestsConfig, {})
    explanations = block_config(config, run, "explanations", ExplanationsConfig, {})
    dataset = load_run_dataset(run)
    phi = TagToCategory.load(run.phi) if (run.phi / "phi.json").exists() else None

    def build_set(name: str):
        if phi is None:
            from recgpt.errors import MissingInputError

            raise MissingInputError(f"{run.phi}: the {name} set needs phi (`recgpt train-phi --run {run.root}`)")
        return build_incremental_set(run, dataset, phi, tags, alignment.incremental, llm, name,
                                     judge=alignment.judge)

    return LoopInputs(run, dataset, phi, alignment, StageConfigs(interests, tags, explanations), llm, base_model(llm),
                      build_set=build_set)


TASK = typer.Option("tags", "--task", help="stage task: interests, tags or explanations")


@align_app.command("curriculum")
def curriculum_command(run: Path = RUN, config: Optional[Path] = CONFIG, settings: list[str] = SETTINGS,
                       train: bool = typer.Option(True, "--train/--no-train",
                                                  help="--no-train: build and write the sets only")) -> None:
    """Curriculum multi-task fine-tuning (report Appendix C): build each subtask's set from the catalog and logs
    and train them in the curriculum's order (curriculum.order: curriculum, shuffled or mixed)."""
    import time

    from recgpt.alignment.curriculum import build_subtask, load_curriculum, run_curriculum, training_plan
    from recgpt.alignment.subtasks import SubtaskInputs
    from recgpt.llm.prompts import PromptLibrary

    inputs = _loop_inputs(RunFolder(run), config, settings)
    a = inputs.alignment
    if not train:
        sub = SubtaskInputs(inputs.dataset, PromptLibrary(inputs.llm.template_dirs), inputs.llm.system_prompt,
                            a.curriculum.seed, a.curriculum.holdout_share, inputs.run)
        for group in training_plan(load_curriculum(a.curriculum.file, a.curriculum.version), a.curriculum):
            for spec in group:
                start = time.perf_counter()
                built = build_subtask(spec, sub)
                if built.samples:
                    built.write(inputs.run.curriculum_set(spec.name))
                typer.echo(f"{spec.name} ({spec.level}): {json.dumps(built.counts)} "
                           f"{time.perf_counter() - start:.2f} s")
        return
    steps = run_curriculum(inputs.run, inputs.dataset, a.curriculum, a.trainer, inputs.llm, inputs.base,
                           inputs.build_set)
    for step in steps:
        typer.echo(f"{step.name}: {step.samples} samples -> {step.adapter or '-'} {json.dumps(step.metrics)}")
    typer.echo(f"-> {inputs.run.curriculum_report(a.curriculum.order)}")


@align_app.command("distill")
def distill_command(run: Path = RUN, config: Optional[Path] = CONFIG, settings: list[str] = SETTINGS,
                    task: str = TASK, train: bool = typer.Option(True, "--train/--no-train",
                                                                 help="fine-tune the student on the kept answers"),
                    from_adapter: Optional[Path] = typer.Option(None, "--from-adapter",
                                                                help="continue this LoRA adapter")) -> None:
    """Pre-alignment by distillation: the teacher (alignment.distill.teacher) answers the stage prompts, the
    post-checks and the judge keep the good answers -> RUN/alignment/sets/<task>-teacher, then the student is
    fine-tuned on them -> RUN/alignment/models/<task>-teacher/."""
    from recgpt.alignment.distill import distill_set
    from recgpt.alignment.purify import stage_purifiers
    from recgpt.alignment.trainer import train as train_model
    from recgpt.judge.grade import open_judge
    from recgpt.llm.runtime import LLMRuntime

    inputs = _loop_inputs(RunFolder(run), config, settings)
    a, folder = inputs.alignment, inputs.run
    f = a.distill.filter
    with open_judge(folder.root, a.judge) as (judge, buffer, round), \
            LLMRuntime(a.distill.teacher, cache_path=folder.llm_cache, usage_path=folder.llm_usage) as teacher:
        purifiers = stage_purifiers(judge, buffer, round, f, [task])
        training_set, harvest = distill_set(folder, inputs.dataset, inputs.phi, task, a, inputs.stages, teacher,
                                            purifiers, system_prompt=inputs.llm.system_prompt)
    typer.echo(f"{len(training_set.samples)} kept answers -> {folder.distill_set(task)}")
    typer.echo(json.dumps(harvest.summary(), indent=1))
    if train and training_set.split("train"):
        result = train_model(training_set, folder.distill_model(task), a.trainer, inputs.base, from_adapter)
        typer.echo(f"{result.manifest['method']} -> {result.folder}")
        typer.echo(json.dumps(result.manifest["metrics"], indent=1))


@align_app.command("self-train")
def self_train_command(run: Path = RUN, config: Optional[Path] = CONFIG, settings: list[str] = SETTINGS,
                       task: str = TASK, from_adapter: Optional[Path] = typer.Option(
                           None, "--from-adapter", help="the student to start from (default: the base model)")) -> None:
    """Self-training with reject sampling: rounds of k seeded answers per prompt from the student, kept by the
    post-checks and the judge -> RUN/alignment/sets/<task>-self-r<N>, retrained from the last adapter ->
    RUN/alignment/models/<task>-self-r<N>/; stops after the rounds or when the held-out pass rate stops rising."""
    from recgpt.alignment.purify import stage_purifiers
    from recgpt.alignment.selftrain import self_train, student_runtime
    from recgpt.judge.grade import open_judge

    inputs = _loop_inputs(RunFolder(run), config, settings)
    a, folder = inputs.alignment, inputs.run
    f = a.self_training.filter
    with open_judge(folder.root, a.judge) as (judge, buffer, round):
        purifiers = stage_purifiers(judge, buffer, round, f, [task])
        result = self_train(folder, inputs.dataset, inputs.phi, task, a, inputs.stages,
                            student_runtime(folder, inputs.llm), purifiers, str(from_adapter) if from_adapter else None,
                            inputs.base, system_prompt=inputs.llm.system_prompt)
    typer.echo(json.dumps(result.as_dict(), indent=1))


@align_app.command("pass-rates")
def pass_rates_command(run: Path = RUN, config: Optional[Path] = CONFIG, settings: list[str] = SETTINGS,
                       task: str = TASK,
                       models: list[str] = typer.Option(
                           [], "--model", help="tuned model name(s) under RUN/alignment/models (repeatable)")) -> None:
    """Held-out pass rates, per criterion, of the base model and each named model on one stage task (report
    Tables 2, 4 and 7 in form): the same held-out users (self_training.heldout_users, seeded), greedy answers,
    the post-checks and the judge of self_training.filter -> RUN/alignment/pass-rates-<task>.json."""
    from recgpt.alignment.pass_rates import compare, rates_table
    from recgpt.alignment.purify import stage_purifiers
    from recgpt.alignment.selftrain import HeldoutEvaluator, student_runtime
    from recgpt.judge.grade import open_judge

    folder = RunFolder(run)
    adapters = {name: str(path) if path else None for name, path in _adapters(folder, models).items()}
    inputs = _loop_inputs(folder, config, settings)
    a = inputs.alignment
    f = a.self_training.filter
    with open_judge(folder.root, a.judge) as (judge, buffer, round):
        purifiers = stage_purifiers(judge, buffer, round, f, [task])
        evaluator = HeldoutEvaluator(folder, inputs.dataset, inputs.phi, task, a, inputs.stages,
                                     student_runtime(folder, inputs.llm), purifiers,
                                     system_prompt=inputs.llm.system_prompt)
        result = compare(evaluator, adapters)
    out = {"task": task, "models": adapters, "judge": f.judge, **result}
    folder.pass_rates(task).parent.mkdir(parents=True, exist_ok=True)
    folder.pass_rates(task).write_text(json.dumps(out, indent=1))
    typer.echo(f"{task}: held-out pass rates ({result['users']} users)")
    typer.echo("\n".join(rates_table(result["rates"])))
    typer.echo(f"-> {folder.pass_rates(task)}")


@align_app.command("loop")
def loop_command(run: Path = RUN, config: Optional[Path] = CONFIG, settings: list[str] = SETTINGS) -> None:
    """The whole alignment loop (alignment.loop.steps): curriculum, distillation, self-training rounds, held-out
    pass rates of every model; resumable, fingerprinted steps -> RUN/alignment/loop.json and loop.md."""
    from recgpt.alignment.loop import run_loop

    inputs = _loop_inputs(RunFolder(run), config, settings)
    run_loop(inputs)
    typer.echo(inputs.run.loop_report.read_text())
    typer.echo(f"-> {inputs.run.loop_report}")


def register(app: typer.Typer) -> None:
    app.add_typer(align_app, name="align")
