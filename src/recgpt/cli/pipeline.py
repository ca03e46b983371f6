"""``recgpt run`` (the main job, resumable) and ``recgpt report`` (rebuild the report of a run).

``recgpt recommend --run RUN --user ID`` belongs to the retrieval area's commands; it prints through
:func:`recgpt.pipeline.recommend.recommend_explained` and ``explained_table`` (explanations from the lookup table).
"""

from __future__ import annotations

import resource
from pathlib import Path
from typing import Optional

import typer

from recgpt.cli.common import BACKEND, BASE_URL, EXECUTOR, MODEL, RAY_ADDRESS, apply_llm_flags, executor_overrides


def summary_table(root: Path, outcomes):
    """A rich table of the stages of one ``recgpt run``: what ran, how long, how much memory, what it did."""
    from rich.table import Table

    table = Table(title=f"pipeline run {root}")
    for col in ("stage", "status", "wall s", "CPU s", "peak RSS MB", "summary"):
        table.add_column(col, justify="right" if col in ("wall s", "CPU s", "peak RSS MB") else "left")
    for o in outcomes:
        brief = ", ".join(f"{k}={v}" for k, v in list(o.summary.items())[:4] if not isinstance(v, (dict, list)))
        ran = o.status == "ran"
        table.add_row(o.name, o.status, f"{o.wall_s:.1f}" if ran else "-", f"{o.cpu_s:.1f}" if ran else "-",
                      f"{o.peak_rss_mb:.0f}" if ran else "-", brief)
    table.caption = f"process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    return table


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="pipeline YAML (configs/*.yaml)"),
        run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="run folder (default: runs/<name>, the configuration's name)"),
        sample_users: Optional[int] = typer.Option(None, "--sample-users", help="test users the LLM stages run on"),
        backend: Optional[str] = BACKEND,
        model: Optional[str] = MODEL,
        base_url: Optional[str] = BASE_URL,
        executor: Optional[str] = EXECUTOR,
        ray_address: Optional[str] = RAY_ADDRESS,
        epochs: Optional[int] = typer.Option(None, "--epochs", help="retriever training epochs"),
        until: Optional[str] = typer.Option(None, "--until", help="stop after this stage"),
        force: list[str] = typer.Option([], "--force", help="rerun this stage even if unchanged (repeatable)"),
        tune_retriever: bool = typer.Option(False, "--tune-retriever", help="search the retriever's settings on dev "
                                            "(retriever_search block: trials, time budget, space) and keep the best"),
        settings: list[str] = typer.Option([], "--set", help="one configuration key, dotted, e.g. "
                                           "alignment.incremental.max_users=600 (repeatable; applied after the file)"),
    ) -> None:
        """Run the whole pipeline into a run folder; finished, unchanged stages are skipped."""
        from rich.console import Console

        from recgpt.pipeline.config import load_config
        from recgpt.pipeline.runner import STAGE_NAMES, run_pipeline
        from recgpt.runfolder import RunFolder

        for name in ([until] if until else []) + list(force):
            if name not in STAGE_NAMES:
                raise typer.BadParameter(f"unknown stage {name!r}; stages: {', '.join(STAGE_NAMES)}")
        cfg = load_config(config, {"evaluation.sample_users": sample_users, "retriever.epochs": epochs,
                                   "retriever_search.enabled": True if tune_retriever else None,
                                   **executor_overrides(executor, ray_address)}, settings)
        if backend is not None or model is not None or base_url is not None:
            cfg = cfg.model_copy(update={"llm": apply_llm_flags(cfg.llm, backend, model, base_url)})
        if cfg.retriever.flush_denormals:  # before any parallel operation, so that every OpenMP worker has it
            from recgpt.retrieval.train import flush_subnormals

            flush_subnormals()
        folder = RunFolder(run_dir or cfg.default_run_dir())
        outcomes = run_pipeline(cfg, folder.root, until=until, force=tuple(force))
        Console(stderr=True).print(summary_table(folder.root, outcomes))
        if folder.report_html.exists() and until is None:
            typer.echo(f"report: {folder.report_html}")

    @app.command("report")
    def report(run: Path = typer.Option(..., "--run", help="a run folder written by `recgpt run`")) -> None:
        """Rebuild report.md and report.html of a finished run from its tables."""
        from recgpt.pipeline.report import build_report

        md, html = build_report(run)
        typer.echo(f"{md}\n{html}")
