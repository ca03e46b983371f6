"""``recgpt data load|validate`` and ``recgpt compress``: canonical data and compressed behavior.

    recgpt data load --source amazon-office --out runs/office
    recgpt data load --source custom --path examples/custom/mapping.yaml --out runs/mine
    recgpt data load --source taobao --split loo --out runs/taobao      # leave-one-out, as `recgpt run` makes it
    recgpt data validate runs/office
    recgpt compress --run runs/office --budget 4096
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from recgpt.runfolder import RunFolder

data_app = typer.Typer(help="Load a data set into a run folder, validate it.", no_args_is_help=True)


def _summary_table(title: str, counts: dict[str, int]) -> Table:
    table = Table(title=title)
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    return table


@data_app.command("load")
def load(
    source: str = typer.Option(..., help="a registered loader: amazon-office | taobao | custom | ... (`recgpt plugins`)"),
    out: Path = typer.Option(..., help="run folder; tables go to RUN/data/*.parquet"),
    path: Optional[Path] = typer.Option(None, help="data folder (default: the bundled copy) or, for custom, the mapping YAML"),
    split: str = typer.Option(
        "auto", "--split", help="auto (the source's holdout, else leave-one-out) | source | loo (leave-one-out); "
        "the same split `recgpt run` makes"),
    min_events: int = typer.Option(3, "--split-min-events", help="leave-one-out: users with fewer events get no target"),
) -> None:
    """Load a data source into canonical tables, make the evaluation split, and write them to RUN/data."""
    from recgpt.data.loaders import SkipReport, load_source
    from recgpt.data.split import apply_split
    from recgpt.data.store import save_dataset

    console = Console(stderr=True)
    report = SkipReport()
    with console.status(f"loading {source}"):
        dataset = apply_split(load_source(source, path, report), split, min_events)
    for line in report.lines():
        console.print(f"[yellow]{line}[/yellow]")
    if report.total:
        console.print(f"[yellow]{report.total:,} bad row(s) skipped in all[/yellow]")
    run = RunFolder(out).ensure()
    save_dataset(dataset, run.data)
    Console().print(_summary_table(f"{dataset.name}: written to {run.data}", dataset.summary()))


@data_app.command("validate")
def validate(run: Path = typer.Argument(..., help="run folder written by `recgpt data load`")) -> None:
    """Check RUN/data against the canonical schemas and the relations between tables."""
    from recgpt.data.store import load_dataset

    dataset = load_dataset(RunFolder(run).data).validate()
    Console().print(_summary_table(f"{dataset.name}: valid", dataset.summary()))


def compress(
    run: Path = typer.Option(..., help="run folder with RUN/data"),
    budget: Optional[int] = typer.Option(None, help="token budget per user (default: the config's, 4096)"),
    no_budget: bool = typer.Option(False, "--no-budget", help="render every user in full"),
    config: Optional[Path] = typer.Option(None, help="YAML with CompressionConfig keys (or a `compression:` block)"),
    tokenizer: Optional[str] = typer.Option(None, help="smollm2 | approx[:CHARS] | gguf:PATH | hf:NAME"),
    fold: Optional[str] = typer.Option(None, help="history of: dev | test | all (default test)"),
) -> None:
    """Reliable behavior extraction + hierarchical compression for every user -> RUN/behavior/compressed.parquet."""
    import pyarrow.parquet as pq

    from recgpt.behavior.compression import compress_users
    from recgpt.behavior.config import CompressionConfig
    from recgpt.config import load_block
    from recgpt.data.store import load_dataset

    cfg = load_block(CompressionConfig, config, "compression",
                     {"token_budget": budget, "tokenizer": tokenizer, "fold": fold})
    if no_budget:
        cfg = CompressionConfig.from_dict({**cfg.model_dump(), "token_budget": None}, source="--no-budget")
    folder = RunFolder(run)
    dataset = load_dataset(folder.data)
    table = compress_users(dataset, cfg)
    folder.ensure()
    pq.write_table(table, folder.compressed)
    _print_summary(table, cfg.token_budget, folder.compressed)


def _print_summary(table, budget: int | None, path: Path) -> None:
    import numpy as np

    tokens = np.array(table.column("n_tokens").to_pylist() or [0])
    events = int(sum(table.column("n_events").to_pylist()))
    truncated = int(sum(d > 0 for d in table.column("dropped_partitions").to_pylist()))
    dropped = int(sum(table.column("dropped_events").to_pylist()))
    meta = table.schema.metadata or {}
    out = Table(title=f"compressed behavior -> {path}")
    out.add_column("figure")
    out.add_column("value", justify="right")
    rows = [
        ("users", f"{table.num_rows:,}"),
        ("reliable events + searches", f"{events:,}"),
        ("reference date", meta.get(b"reference_date", b"?").decode()),
        ("tokenizer", meta.get(b"tokenizer", b"?").decode()),
        ("tokens per user: mean / p50 / p95 / max",
         f"{tokens.mean():.0f} / {np.percentile(tokens, 50):.0f} / {np.percentile(tokens, 95):.0f} / {tokens.max()}"),
        ("token budget", "none" if budget is None else f"{budget:,}"),
        ("users truncated (oldest partitions dropped)", f"{truncated:,}"),
        ("events dropped by the budget", f"{dropped:,}"),
    ]
    for name, value in rows:
        out.add_row(name, value)
    Console().print(out)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
    app.command("compress")(compress)
