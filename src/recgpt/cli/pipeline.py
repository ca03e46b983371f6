"""``recgpt run`` (the main job, resumable) and ``recgpt report`` (rebuild the report of a run).

``recgpt recommend --run RUN --user ID`` belongs to the retrieval area's commands; it prints through
:func:`recgpt.pipeline.recommend.recommend_explained` and ``explained_table`` (explanations from the lookup table).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="pipeline YAML (configs/*.yaml)"),
        run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="run folder (default: runs/<config name>)"),
        sample_users: Optional[int] = typer.Option(None, "--sample-users", help="test users the LLM stages run on"),
        backend: Optional[str] = typer.Option(None, "--backend", help="LLM backend: llama-cpp | openai | fake"),
        model: Optional[str] = typer.Option(None, "--model", help="LLM model (GGUF path or server model name)"),
        base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible server URL"),
        epochs: Optional[int] = typer.Option(None, "--epochs", help="retriever training epochs"),
        until: Optional[str] = typer.Option(None, "--until", help="stop after this stage"),
        force: list[str] = typer.Option([], "--force", help="rerun this stage even if unchanged (repeatable)"),
    ) -> None:
        """Run the whole pipeline into a run folder; finished, unchanged stages are skipped."""
        from recgpt.config import ConfigError
        from recgpt.pipeline.config import load_config
        from recgpt.pipeline.runner import STAGE_NAMES, run_pipeline

        for name in ([until] if until else []) + list(force):
            if name not in STAGE_NAMES:
                raise typer.BadParameter(f"unknown stage {name!r}; stages: {', '.join(STAGE_NAMES)}")
        overrides = {"evaluation.sample_users": sample_users, "llm.backend": backend, "llm.model": model,
                     "llm.base_url": base_url, "retriever.epochs": epochs}
        try:
            cfg = load_config(config, overrides)
        except ConfigError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2)
        folder = run_dir or Path("runs") / (config.stem if config else "default")
        run_pipeline(cfg, folder, until=until, force=tuple(force))
        report = folder / "report" / "report.html"
        if report.exists() and until is None:
            typer.echo(f"report: {report}")

    @app.command("report")
    def report(run: Path = typer.Option(..., "--run", help="a run folder written by `recgpt run`")) -> None:
        """Rebuild report.md and report.html of a finished run from its tables."""
        from recgpt.pipeline.report import build_report

        md, html = build_report(run)
        typer.echo(f"{md}\n{html}")
