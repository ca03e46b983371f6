"""``recgpt train-retriever``, ``recgpt evaluate-retrievers``, ``recgpt recommend`` and ``recgpt convert-run``
(retrieval area)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from recgpt.cli.common import EXECUTOR, RAY_ADDRESS, executor_overrides
from recgpt.runfolder import RunFolder


def _retriever_config(run: RunFolder, config: Optional[Path], settings: list[str]):
    """TARConfig from ``--config`` (a TARConfig YAML, or a pipeline YAML with a ``retriever`` block), else the
    run's ``config.yaml`` ``retriever`` block, else defaults; then ``--set key=value`` overrides."""
    from recgpt.config import load_block
    from recgpt.retrieval.config import TARConfig

    source = config if config is not None else (run.config if run.config.exists() else None)
    return load_block(TARConfig, source, "retriever", settings=settings)


def _evaluation_config(run: RunFolder):
    """The run's ``evaluation`` block (beta grid, dev users for tuning, seed), else the defaults, so that
    ``evaluate-retrievers`` and ``recgpt run`` tune beta the same way."""
    from recgpt.config import load_block
    from recgpt.pipeline.config import EvaluationConfig

    return load_block(EvaluationConfig, run.config if run.config.exists() else None, "evaluation")


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
        from recgpt.stages.runner import load_run_dataset

        folder = RunFolder(run)
        cfg = _retriever_config(folder, config, settings)
        if cfg.flush_denormals:  # before any parallel operation, so that every OpenMP worker has it
            from recgpt.retrieval.train import flush_subnormals

            flush_subnormals()
        dataset = load_run_dataset(folder)
        try:
            options = parse_key_values(index_options, "--index-option")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        model = IndexedRecommender(TARRecommender(cfg), index, **options)
        folder.ensure()
        model.fit(dataset, "dev", checkpoint=folder.retriever_checkpoint)
        model.use_history(dataset, None)
        model.save(folder.retriever)
        best = max((r.get("dev", 0.0) for r in model.model.training_log), default=0.0)
        typer.echo(f"saved {folder.retriever} (best dev recall@20 {best:.4f})")

    @app.command("tune-retriever")
    def tune_retriever(
        run: Path = typer.Option(..., "--run", help="run folder with data/ (written by `recgpt data load`)"),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="TARConfig or pipeline YAML"),
        settings: list[str] = typer.Option([], "--set", help="override one TARConfig key of the base: KEY=VALUE"),
        search: list[str] = typer.Option([], "--search", help="override one retriever_search key: KEY=VALUE, e.g. "
                                         "'space={lr: {low: 0.0005, high: 0.002, log: true}}'"),
        trials: Optional[int] = typer.Option(None, "--trials", help="most trials (trial 0 = the base settings)"),
        time_budget: Optional[float] = typer.Option(None, "--time-budget", help="seconds; no trial starts after"),
        epochs: Optional[int] = typer.Option(None, "--epochs", help="most epochs per trial"),
    ) -> None:
        """Search the retriever's main settings on dev (Optuna, pruning bad trials) within a time budget; save the
        best model to RUN/retriever and what was searched and chosen to RUN/retriever/search.json."""
        from recgpt.config import load_block, read_yaml_mapping
        from recgpt.pipeline.artifacts import write_json
        from recgpt.retrieval.config import RetrieverSearchConfig
        from recgpt.retrieval.search import search_retriever
        from recgpt.stages.runner import load_run_dataset

        folder = RunFolder(run)
        base = _retriever_config(folder, config, settings)
        source = config if config is not None else (folder.config if folder.config.exists() else None)
        if source is not None and "retriever_search" not in (read_yaml_mapping(Path(source)) or {}):
            source = None  # a pipeline or retriever YAML without a retriever_search block: the defaults
        cfg = load_block(RetrieverSearchConfig, source, "retriever_search", settings=search,
                         overrides={"trials": trials, "time_budget_s": time_budget, "epochs": epochs})
        result = search_retriever(load_run_dataset(folder), base, cfg)
        folder.ensure()
        result.model.use_history(load_run_dataset(folder), None)
        result.model.save(folder.retriever)
        write_json(folder.retriever / "search.json", result.summary())
        summary = result.summary()
        typer.echo(f"{summary['complete']} trials finished, {summary['pruned']} pruned in {summary['seconds']:.0f} s; "
                   f"dev recall@20 {result.base_dev:.4f} (base) -> {result.best_dev:.4f} with {result.chosen()}")
        typer.echo(f"saved {folder.retriever} and {folder.retriever / 'search.json'}")

    @app.command("evaluate-retrievers")
    def evaluate_retrievers(
        run: Path = typer.Option(..., "--run", help="run folder with data/ and a trained retriever/"),
        fold: str = typer.Option("test", "--fold", help="dev | test"),
        untuned: bool = typer.Option(False, "--untuned-baselines", help="baselines with their defaults, fitted on "
                                     "train (default: tuned on dev, refitted on train + dev for test)"),
        sequential: bool = typer.Option(False, "--sequential", help="also train and evaluate the sequential "
                                        "reference SASRec (registry 'sasrec'; minutes on a CPU)"),
        threads: int = typer.Option(1, "--threads", help="threads of the SASRec training"),
    ) -> None:
        """Quality table of popular, EASE, item-kNN (tuned on dev) and the trained retriever (beta 1, 0, tuned)."""
        from recgpt.retrieval.evaluate import pivot, write_table
        from recgpt.retrieval.quality import quality_rows
        from recgpt.retrieval.saved import load_model
        from recgpt.stages.runner import load_run_dataset

        folder = RunFolder(run)
        evaluation = _evaluation_config(folder)
        rows = quality_rows(load_run_dataset(folder), load_model(folder.retriever), fold=fold,
                            tags_path=folder.tags if folder.tags.exists() else None, grid=evaluation.beta_grid,
                            max_users=evaluation.tune_users, seed=evaluation.seed, tune_baselines=not untuned,
                            memory_gb=evaluation.memory_gb,
                            sequential={"threads": threads} if sequential else None,
                            beta_criterion=evaluation.beta_criterion, beta_tolerance=evaluation.beta_tolerance)
        path = write_table(rows, folder.retriever / f"metrics_{fold}.parquet")
        typer.echo(pivot(rows))
        typer.echo(f"written: {path} and {path.with_suffix('.json')}")

    @app.command("recommend")
    def recommend(
        run: Path = typer.Option(..., "--run", help="run folder with a trained retriever"),
        user: str = typer.Option(..., "--user", help="user id"),
        k: int = typer.Option(10, "--k", help="how many items"),
    ) -> None:
        """Print one user's top-k items with their explanations (when the run has them)."""
        from rich.console import Console

        from recgpt.pipeline.recommend import explained_table, recommend_explained

        items, context = recommend_explained(run, user, k)
        Console().print(explained_table(items, context))

    @app.command("recommend-all")
    def recommend_all(
        run: Path = typer.Option(..., "--run", help="run folder with a trained retriever"),
        k: int = typer.Option(50, "--k", help="items per user"),
        beta: Optional[float] = typer.Option(None, "--beta", help="fusion weight (1: collaborative only; default: "
                                             "the retriever's)"),
        tags: bool = typer.Option(True, "--tags/--no-tags", help="fuse the run's LLM tags (stages/tags.parquet)"),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="pipeline YAML (its executor block)"),
        executor: Optional[str] = EXECUTOR,
        ray_address: Optional[str] = RAY_ADDRESS,
        workers: Optional[int] = typer.Option(None, "--workers", help="retrieval actors of the ray executor"),
    ) -> None:
        """The batch retrieval job: every user of RUN/data's top-k (user tower + index search) from RUN/retriever,
        on this machine or as a Ray Data job -> RUN/eval/batch_recommendations.parquet."""
        import time

        import pyarrow as pa
        import pyarrow.parquet as pq

        from recgpt.executors.base import create_executor
        from recgpt.pipeline.config import load_config
        from recgpt.retrieval.fusion import load_tag_table
        folder = RunFolder(run)
        cfg = load_config(config, {**executor_overrides(executor, ray_address), "executor.workers": workers})
        users = sorted(str(u) for u in pq.read_table(folder.table("users"), columns=["user_id"]).column(0).to_pylist())
        user_tags = load_tag_table(folder.tags) if tags and folder.tags.exists() else None
        job = create_executor(cfg.executor)
        start = time.perf_counter()
        try:
            recs = job.recommend_users(folder.retriever, users, k, tags=user_tags,
                                       **({"beta": beta} if beta is not None else {}))
        finally:
            job.close()
        seconds = time.perf_counter() - start
        rows = [{"user_id": u, "rank": r, "item_id": item, "score": float(score)}
                for u, items, scores in zip(recs.user_ids, recs.item_ids, recs.scores)
                for r, (item, score) in enumerate(zip(items, scores)) if item != ""]
        folder.eval.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema([
            ("user_id", pa.string()), ("rank", pa.int32()), ("item_id", pa.string()), ("score", pa.float32())])),
            folder.batch_recommendations)
        typer.echo(f"{len(users)} users, top-{k}, executor {cfg.executor.name}: {seconds:.1f} s "
                   f"-> {folder.batch_recommendations}")

    @app.command("convert-run")
    def convert_run(run: Path = typer.Argument(..., help="a run folder written by recgpt 0.1")) -> None:
        """Rewrite a recgpt 0.1 retriever (a pickled model.pt) in the safe format (model.json + safetensors).

        Reading the old file runs its pickle once: convert only run folders you trust."""
        from recgpt.retrieval.convert import convert_legacy_model

        written = convert_legacy_model(RunFolder(run).retriever)
        typer.echo(f"converted: {written}")
