"""``recgpt train-retriever``, ``recgpt evaluate-retrievers`` and ``recgpt recommend`` (retrieval area)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def _retriever_config(run: Path, config: Optional[Path], settings: list[str]):
    """TARConfig from ``--config`` (a TARConfig YAML, or a pipeline YAML with a ``retriever`` block), else the
    run's ``config.yaml`` ``retriever`` block, else defaults; then ``--set key=value`` overrides."""
    import yaml

    from recgpt.config import ConfigError, parse_key_values
    from recgpt.retrieval.train import TARConfig

    source = config or (run / "config.yaml")
    raw: dict = {}
    if source.exists():
        loaded = yaml.safe_load(source.read_text()) or {}
        raw = loaded.get("retriever", {} if source == run / "config.yaml" else loaded) or {}
    elif config is not None:
        raise ConfigError(f"{config}: configuration file not found")
    try:
        raw.update(parse_key_values(settings, "--set"))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return TARConfig.from_dict(raw, source=str(source))


def _dataset(run: Path):
    from recgpt.data.store import load_dataset
    from recgpt.runfolder import RunFolder

    folder = RunFolder(run).data
    if not (folder / "items.parquet").exists():
        raise FileNotFoundError(f"{folder}: no data set; run `recgpt data load --source amazon-office --out {run}`")
    return load_dataset(folder)


def print_recommendations(run: Path, user: str, k: int) -> None:
    """The one place that prints a user's list: with explanations when the pipeline area's lookup is there."""
    from rich.console import Console

    try:
        from recgpt.pipeline.recommend import explained_table, recommend_explained
    except ImportError:
        explained_table = None
    if explained_table is not None:
        items, context = recommend_explained(run, user, k)
        Console().print(explained_table(items, context))
        return
    from rich.table import Table

    from recgpt.retrieval.tar import TARRecommender
    from recgpt.runfolder import RunFolder

    dataset = _dataset(run)
    model = TARRecommender.load(RunFolder(run).retriever)
    model.use_history(dataset, None)
    recs = model.recommend([user], k)
    titles = dict(zip(dataset.items.column("item_id").to_pylist(), dataset.items.column("title").to_pylist()))
    table = Table(title=f"top {k} for user {user}")
    for col in ("rank", "item", "title", "score"):
        table.add_column(col)
    for rank, (item, score) in enumerate(recs.for_user(user), 1):
        table.add_row(str(rank), item, titles.get(item, ""), f"{score:.3f}")
    Console().print(table)


def register(app: typer.Typer) -> None:
    @app.command("train-retriever")
    def train_retriever(
        run: Path = typer.Option(..., "--run", help="run folder with data/ (written by `recgpt data load`)"),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="TARConfig or pipeline YAML"),
        settings: list[str] = typer.Option([], "--set", help="override one TARConfig key: KEY=VALUE (repeatable)"),
        index: str = typer.Option("exact", "--index", help="exact | hnsw | ivf (saved with the model)"),
        index_options: list[str] = typer.Option(
            [], "--index-option", help="one index setting KEY=VALUE, e.g. nprobe=128 or ef_search=256 (repeatable)"
        ),
    ) -> None:
        """Train the user-item-tag retriever on RUN/data (early-stopped on dev) and save it to RUN/retriever.

        A killed training resumes after its last finished epoch when run again with the same settings."""
        from recgpt.config import ConfigError, parse_key_values
        from recgpt.retrieval.index import IndexedRecommender
        from recgpt.retrieval.tar import TARRecommender
        from recgpt.runfolder import RunFolder

        try:
            cfg = _retriever_config(run, config, settings)
            dataset = _dataset(run)
        except (ConfigError, FileNotFoundError) as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2)
        try:
            model = IndexedRecommender(TARRecommender(cfg), index, **parse_key_values(index_options, "--index-option"))
        except (KeyError, TypeError, ValueError) as exc:
            typer.echo(f"--index {index}: {exc}", err=True)
            raise typer.Exit(2)
        folder = RunFolder(run).ensure().retriever
        model.fit(dataset, "dev", checkpoint=folder / "checkpoint.pt")
        model.use_history(dataset, None)
        model.save(folder)
        best = max((r.get("dev", 0.0) for r in model.model.training_log), default=0.0)
        typer.echo(f"saved {folder} (best dev recall@20 {best:.4f})")

    @app.command("evaluate-retrievers")
    def evaluate_retrievers(
        run: Path = typer.Option(..., "--run", help="run folder with data/ and a trained retriever/"),
        fold: str = typer.Option("test", "--fold", help="dev | test"),
    ) -> None:
        """Quality table of popular, EASE, item-kNN and the trained TAR (beta 1, 0, tuned on dev)."""
        from recgpt.retrieval.quality import quality_rows
        from recgpt.retrieval.evaluate import pivot, write_table
        from recgpt.retrieval.tar import TARRecommender
        from recgpt.runfolder import RunFolder

        folder = RunFolder(run)
        rows = quality_rows(_dataset(run), TARRecommender.load(folder.retriever), fold=fold,
                            tags_path=folder.tags if folder.tags.exists() else None)
        path = write_table(rows, folder.retriever / f"metrics_{fold}.parquet")
        typer.echo(pivot(rows))
        typer.echo(f"written: {path} and {path.with_suffix('.json')}")

    @app.command("recommend")
    def recommend(
        run: Path = typer.Option(..., "--run", help="run folder with a trained retriever"),
        user: str = typer.Option(..., "--user", help="user id"),
        k: int = typer.Option(10, "--k", help="how many items"),
    ) -> None:
        """Print one user's top-k items (with explanations when the run has them)."""
        try:
            print_recommendations(run, user, k)
        except (FileNotFoundError, KeyError) as exc:
            typer.echo(str(exc).strip("'\""), err=True)
            raise typer.Exit(2)
