"""``recgpt judge``: grade a run's stage outputs, check the judge against people, label, export.

    recgpt judge --run runs/office                      grade with the embedded model -> RUN/judge/pass_rates.*
    recgpt judge --run runs/office --backend openai --base-url http://localhost:8000/v1 --model qwen3-8b
    recgpt judge check --run runs/office                agreement with the latest human round; exit 1 on a drop
    recgpt judge serve --run runs/office --port 8765    the labelling page (token from RECGPT_JUDGE_TOKEN)
    recgpt judge export --run runs/office --out judge-train.jsonl
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Optional

import typer

from recgpt.cli.common import (BACKEND, BASE_URL, EXECUTOR, MODEL, RAY_ADDRESS, THREADS, apply_llm_flags,
                               executor_overrides)
from recgpt.runfolder import RunFolder

judge_app = typer.Typer(help="Human-LLM cooperative judge (report Section 3).", no_args_is_help=False)

RUN = typer.Option(..., "--run", help="run folder holding stages/interests.parquet, tags.parquet, explanations.sqlite")
CONFIG = typer.Option(None, "--config", help="YAML file: its 'judge' block (or the whole file) is a JudgeConfig")


def _config(config: Optional[Path], overrides: dict, **llm_flags):
    """The JudgeConfig: the file's ``judge`` block (or the whole file), dotted ``overrides``, the LLM flags."""
    from recgpt.config import load_block
    from recgpt.judge.config import JudgeConfig

    cfg = load_block(JudgeConfig, config, "judge", overrides)
    if any(value is not None for value in llm_flags.values()):
        cfg = cfg.model_copy(update={"llm": apply_llm_flags(cfg.llm, **llm_flags)})
    return cfg


def _buffer(run: Path, cfg):
    from recgpt.judge.grade import open_buffer

    return open_buffer(run, cfg)


def _current_round(buffer, cfg) -> int:
    from recgpt.judge.grade import current_round

    return current_round(buffer, cfg)


@judge_app.callback(invoke_without_command=True)
def grade(
    ctx: typer.Context,
    run: Optional[Path] = typer.Option(None, "--run", help="run folder to grade"),
    config: Optional[Path] = CONFIG,
    backend: Optional[str] = BACKEND,
    model: Optional[str] = MODEL,
    base_url: Optional[str] = BASE_URL,
    threads: Optional[int] = THREADS,
    sample: Optional[int] = typer.Option(None, "--sample", help="grade a seeded sample of N outputs per task"),
    task: Optional[list[str]] = typer.Option(None, "--task", help="only these tasks (repeatable)"),
    max_tokens: Optional[int] = typer.Option(None, help="answer budget per judge call"),
    executor: Optional[str] = EXECUTOR,
    ray_address: Optional[str] = RAY_ADDRESS,
) -> None:
    """Grade RUN's interests, tags and explanations; write per-task, per-criterion pass rates to RUN/judge/."""
    if ctx.invoked_subcommand is not None:
        return
    if run is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(2)
    from recgpt.judge.grade import grade_run

    cfg = _config(config, {"sample_per_task": sample, "tasks": task or None, "max_tokens": max_tokens,
                           **executor_overrides(executor, ray_address)},
                  backend=backend, model=model, base_url=base_url, threads=threads)
    stats, _, name = grade_run(run, cfg)
    typer.echo(f"graded {stats.items} outputs with {name}: {stats.asked} asked ({stats.cached} cached), "
               f"{stats.already_judged} already judged, {stats.rule_failed} failed rule checks, "
               f"{stats.failed_calls} without a verdict")
    for error in stats.errors[:5]:
        typer.echo(f"  no verdict: {error}", err=True)
    md_path = RunFolder(run).judge_pass_rates
    typer.echo(md_path.read_text())
    typer.echo(f"wrote {md_path.with_suffix('.json')} and {md_path}")


@judge_app.command("check")
def check(
    run: Path = RUN,
    config: Optional[Path] = CONFIG,
    judge: Optional[str] = typer.Option(None, help="LLM judge name in the buffer (default: the busiest)"),
    threshold: Optional[float] = typer.Option(None, help="flag a drop larger than this (default from config)"),
    metric: Optional[str] = typer.Option(None, help="accuracy | precision | recall | f1"),
    min_value: Optional[float] = typer.Option(None, help="also flag any value below this floor"),
    retrain: bool = typer.Option(False, "--retrain", help="on a flagged drop, fine-tune the judge on the buffer "
                                                          "(`recgpt judge train`) and report before and after"),
) -> None:
    """Milestone check: agreement of the LLM judge with the latest human round; exit 1 on a flagged drop
    (with --retrain, a drop trains a new judge, deployed when it reaches the threshold)."""
    from recgpt.judge.agreement import milestone_check

    cfg = _config(config, {"check.threshold": threshold, "check.metric": metric, "check.min_value": min_value})
    buffer = _buffer(run, cfg)
    judges = buffer.judges("llm")
    name = judge or (max(judges, key=lambda j: len(buffer.verdicts(source="llm", judge=j))) if judges else None)
    if name is None or not buffer.rounds("human"):
        typer.echo("nothing to check: the buffer needs LLM verdicts and at least one round of human labels", err=True)
        raise typer.Exit(2)
    rows, flags = milestone_check(buffer, name, cfg.check.threshold, cfg.check.metric, cfg.check.min_value,
                                  cfg.rubric_version, cfg.check.min_pairs)
    typer.echo(f"judge {name} against human round {buffer.rounds('human')[-1]} (positive class: pass)")
    typer.echo(f"{'task':<13} {'criterion':<15} {'n':>4} {'ACC':>7} {'Prec':>7} {'Recall':>7} {'F1':>7}")
    for r in rows:
        m = r.metrics
        typer.echo(f"{r.task:<13} {r.criterion:<15} {m.n:>4} {m.accuracy:>7.4f} {m.precision:>7.4f} "
                   f"{m.recall:>7.4f} {m.f1:>7.4f}")
    report = RunFolder(run).judge_check
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps({"judge": name, "rows": [r.as_dict() for r in rows],
                                  "flags": [f.__dict__ for f in flags]}, indent=2) + "\n")
    for f in flags:
        typer.echo(f"DEGRADED {f.task}/{f.criterion}: {f.reason}", err=True)
    if flags and retrain:
        buffer.close()
        deployed = _train_judge(run, config, cfg)
        raise typer.Exit(0 if deployed else 1)
    if flags:
        raise typer.Exit(1)
    typer.echo("no degradation beyond the threshold")


def _train_judge(run: Path, config: Optional[Path], cfg) -> bool:
    """Train, measure and maybe deploy a judge (the alignment block's judge_training); prints Table 9 before and
    after; returns whether the trained judge is deployed."""
    from recgpt.alignment.config import AlignmentConfig
    from recgpt.alignment.judge_training import judge_runtime_factory, train_judge
    from recgpt.config import load_block

    folder = RunFolder(run)
    path = config if config is not None else (folder.config if folder.config.exists() else None)
    training = load_block(AlignmentConfig, path, "alignment").judge_training
    buffer = _buffer(run, cfg)
    try:
        report = train_judge(folder, buffer, training, cfg.rebalance, cfg.llm, judge_runtime_factory(folder, cfg.llm),
                             template_dirs=cfg.llm.template_dirs, template_version=cfg.template_version)
    finally:
        buffer.close()
    typer.echo(f"{report['training_samples']} training samples, {report['heldout_verdicts']} held-out verdicts")
    typer.echo(f"{'judge':<8} {'task':<13} {'n':>4} {'ACC':>7} {'Prec':>7} {'Recall':>7} {'F1':>7}")
    for name in ("before", "after"):
        for task, m in report[name].items():
            if isinstance(m, dict) and m:
                typer.echo(f"{name:<8} {task:<13} {m['n']:>4} {m['accuracy']:>7.4f} {m['precision']:>7.4f} "
                           f"{m['recall']:>7.4f} {m['f1']:>7.4f}")
    typer.echo(("deployed: " if report["deployed"] else "not deployed: ") + report["reason"])
    typer.echo(f"-> {folder.judge_deployed}")
    return report["deployed"]


@judge_app.command("train")
def train_command(run: Path = RUN, config: Optional[Path] = CONFIG) -> None:
    """Fine-tune the judge on the rebalanced human verdicts of the buffer (alignment.judge_training), measure
    its agreement on held-out labels before and after, deploy it when it reaches deploy_accuracy; exit 1 when
    not deployed."""
    cfg = _config(config, {})
    if not _train_judge(run, config, cfg):
        raise typer.Exit(1)


@judge_app.command("serve")
def serve(
    run: Path = RUN,
    config: Optional[Path] = CONFIG,
    port: Optional[int] = typer.Option(None, help="port (default from config: 8765)"),
    host: Optional[str] = typer.Option(None, help="interface (default 127.0.0.1)"),
    round: Optional[int] = typer.Option(None, "--round", help="labelling round (default: the latest human round)"),
    new_round: bool = typer.Option(False, "--new-round", help="start the round after the latest human round"),
    annotator: Optional[str] = typer.Option(None, help="your name, stored with each label"),
    sample: Optional[int] = typer.Option(None, "--sample", help="outputs offered per task (default 50)"),
    task: Optional[list[str]] = typer.Option(None, "--task", help="only these tasks (repeatable)"),
) -> None:
    """Serve the labelling page for RUN's outputs; labels go to the judge buffer as source=human."""
    import uvicorn

    from recgpt.judge.items import load_items, sample_items
    from recgpt.judge.web.app import LabelSession, create_app

    cfg = _config(config, {"serve.port": port, "serve.host": host, "serve.annotator": annotator,
                           "serve.sample_per_task": sample, "tasks": task or None, "round": round})
    buffer = _buffer(run, cfg)
    rounds = buffer.rounds("human")
    label_round = (rounds[-1] + 1 if rounds else 1) if new_round else _current_round(buffer, cfg)
    items = load_items(RunFolder(run), cfg.tasks, None, cfg.seed, cfg.max_context_chars)
    if not cfg.serve.include_rule_failed:  # the LLM judge only sees outputs that passed the rule checks
        items = [item for item in items if item.rule_passed is not False]
    items = sample_items(items, cfg.serve.sample_per_task, cfg.seed)
    if not items:
        raise typer.BadParameter(f"{run}: no stage outputs to label")
    token = cfg.serve.token or os.environ.get(cfg.serve.token_env) or secrets.token_urlsafe(18)
    session = LabelSession(buffer, items, token, label_round, cfg.serve.annotator, cfg.rubric_version)
    where = f"http://{cfg.serve.host}:{cfg.serve.port}/?token={token}"
    typer.echo(f"labelling {len(items)} outputs, round {label_round}, as {cfg.serve.annotator}: open {where}")
    uvicorn.run(create_app(session), host=cfg.serve.host, port=cfg.serve.port, log_level="warning")


@judge_app.command("export")
def export(
    run: Path = RUN,
    config: Optional[Path] = CONFIG,
    out: Optional[Path] = typer.Option(None, help="JSON Lines file (default RUN/judge/train.jsonl)"),
    source: str = typer.Option("human", help="which verdicts to export: human | llm | rule"),
) -> None:
    """Rebalanced judge fine-tuning set (chat-format JSON Lines) from the buffer's verdicts."""
    from recgpt.judge.export import export_training_set

    cfg = _config(config, {})
    buffer = _buffer(run, cfg)
    path = out or RunFolder(run).judge_export
    sets = export_training_set(buffer, path, cfg.rebalance, source, cfg.llm.template_dirs, cfg.template_version)
    for s in sets:
        typer.echo(f"{s.task}/{s.criterion}: round {s.latest_round} {s.before} -> {s.after}")
    typer.echo(f"wrote {sum(len(s.samples) for s in sets)} examples to {path}")


@judge_app.command("import")
def import_labels(
    run: Path = RUN,
    file: Path = typer.Argument(..., help="JSON Lines of verdicts as written by 'judge dump'"),
    config: Optional[Path] = CONFIG,
) -> None:
    """Add verdicts (e.g. a reference set of human labels kept in the repository) to RUN's buffer."""
    from recgpt.judge.buffer import Verdict

    cfg = _config(config, {})
    buffer = _buffer(run, cfg)
    verdicts = []
    for n, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            verdicts.append(Verdict(**json.loads(line)))
        except (json.JSONDecodeError, TypeError, ValueError) as exc:
            raise typer.BadParameter(f"{file}:{n}: {exc}") from exc
    typer.echo(f"imported {buffer.add(verdicts)} verdicts into {buffer.path}")


@judge_app.command("dump")
def dump(
    run: Path = RUN,
    config: Optional[Path] = CONFIG,
    source: str = typer.Option("human", help="human | llm | rule"),
    out: Path = typer.Option(..., help="JSON Lines file to write"),
) -> None:
    """Write the buffer's verdicts of one source as JSON Lines (for 'judge import' elsewhere)."""
    cfg = _config(config, {})
    buffer = _buffer(run, cfg)
    rows = buffer.verdicts(source=source)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(v.__dict__, ensure_ascii=False) + "\n" for v in rows), encoding="utf-8")
    typer.echo(f"wrote {len(rows)} {source} verdicts to {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(judge_app, name="judge")
