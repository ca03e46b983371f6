"""``recgpt interests|tags|explain|train-phi|tag-eval|chain``: the LLM stages over a run folder.

    recgpt train-phi --run runs/office
    recgpt interests --run runs/office --sample-users 20 --seed 0
    recgpt tags --run runs/office --sample-users 20 --seed 0
    recgpt explain --run runs/office --sample-users 20 --seed 0
    recgpt tag-eval --run runs/office --sample-users 20 --seed 0
    recgpt chain --run runs/office --user 3810

Settings come from ``--config`` (a YAML file with the blocks ``llm``, ``interests``, ``tags``, ``phi``,
``explanations``, ``tag_eval``; a pipeline configuration works, with the user sample it gives every stage),
else from ``RUN/config.yaml``, then flags. These commands call the same stage functions as ``recgpt run``
(:mod:`recgpt.stages.runner`). Every LLM answer is cached in ``RUN/llm/cache.sqlite``: rerunning a stopped
command resumes it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from recgpt.cli.common import (BACKEND, BASE_URL, EXECUTOR, MODEL, RAY_ADDRESS, THREADS, apply_llm_flags,
                               executor_overrides)
from recgpt.runfolder import RunFolder


def block_config(config: Path | None, run: RunFolder, name: str, cls, overrides: dict[str, Any]):
    """Block ``name`` as a ``cls``: from ``config`` or ``RUN/config.yaml`` (a pipeline configuration is read
    whole, so its stage blocks carry the pipeline's user sample), then the flags given in ``overrides``."""
    from recgpt.config import load_block, read_yaml_mapping

    path = config or (run.config if run.config.exists() else None)
    if path is not None and "evaluation" in read_yaml_mapping(Path(path)):
        from recgpt.pipeline.config import load_config

        resolved = getattr(load_config(path), name)
        values = {**resolved.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
        return cls.from_dict(values, source=f"{path} ({name} block) and flags")
    return load_block(cls, path, name, overrides)


def _runtime(config: Path | None, run: RunFolder, backend, model, base_url, threads, executor=None, ray_address=None):
    from recgpt.executors.base import create_executor
    from recgpt.executors.config import ExecutorConfig
    from recgpt.llm.config import LLMConfig
    from recgpt.llm.runtime import LLMRuntime

    llm = apply_llm_flags(block_config(config, run, "llm", LLMConfig, {}), backend, model, base_url, threads)
    flags = {key.split(".", 1)[1]: value for key, value in executor_overrides(executor, ray_address).items()}
    where = block_config(config, run, "executor", ExecutorConfig, flags)
    run.llm.mkdir(parents=True, exist_ok=True)
    return LLMRuntime(llm, cache_path=run.llm_cache, usage_path=run.llm_usage,
                      executor=create_executor(where, run.llm_blocks))


def _print(outcome, what: str, path: Path) -> None:
    typer.echo(f"{what}: {outcome.table.num_rows} rows -> {path}")
    typer.echo(json.dumps(outcome.summary(), indent=2))


def register(app: typer.Typer) -> None:
    run_opt = typer.Option(..., "--run", help="run folder (needs RUN/data, see `recgpt data`)")
    config_opt = typer.Option(None, "--config", "-c", help="YAML with llm/interests/tags/phi/explanations blocks")
    sample_opt = typer.Option(None, "--sample-users", help="a seeded sample of this many users")
    seed_opt = typer.Option(None, "--seed", help="seed of the user sample")
    tokens_opt = typer.Option(None, "--max-tokens", help="answer budget per LLM call")

    def stage_command(name: str, block: str, cls_name: str, doc: str):
        def command(
            run: Path = run_opt, config: Optional[Path] = config_opt, sample_users: Optional[int] = sample_opt,
            seed: Optional[int] = seed_opt, max_tokens: Optional[int] = tokens_opt,
            backend: Optional[str] = BACKEND, model: Optional[str] = MODEL,
            base_url: Optional[str] = BASE_URL, threads: Optional[int] = THREADS,
            executor: Optional[str] = EXECUTOR, ray_address: Optional[str] = RAY_ADDRESS,
        ) -> None:
            from recgpt.stages import config as stage_config
            from recgpt.stages import runner

            folder = RunFolder(run)
            cfg = block_config(config, folder, block, getattr(stage_config, cls_name),
                               {"sample_users": sample_users, "seed": seed, "max_tokens": max_tokens})
            dataset = runner.load_run_dataset(folder)
            with _runtime(config, folder, backend, model, base_url, threads, executor, ray_address) as runtime:
                if name == "interests":
                    _print(runner.run_interests(folder, dataset, runtime, cfg), name, folder.interests)
                elif name == "tags":
                    phi_cfg = block_config(config, folder, "phi", stage_config.PhiConfig, {})
                    phi = runner.ensure_phi(folder, dataset, phi_cfg)
                    _print(runner.run_tags(folder, dataset, runtime, cfg, phi), name, folder.tags)
                else:
                    _print(runner.run_explanations(folder, dataset, runtime, cfg), name, folder.explanations)

        command.__doc__ = doc
        app.command(name)(command)

    stage_command("interests", "interests", "InterestsConfig",
                  "Mine interests (LLM_UI) for the users of a run folder -> RUN/stages/interests.parquet.")
    stage_command("tags", "tags", "TagsConfig",
                  "Predict tags (LLM_IT), one call per interest, checked and mapped by phi -> RUN/stages/tags.parquet.")
    stage_command("explain", "explanations", "ExplanationsConfig",
                  "Write explanations per (interest, item) pair -> RUN/stages/explanations.sqlite (lookup table).")

    @app.command("train-phi")
    def train_phi(run: Path = run_opt, config: Optional[Path] = config_opt) -> None:
        """Train the tag-to-category model phi on the catalog's titles -> RUN/phi; print held-out accuracy."""
        from recgpt.stages import runner
        from recgpt.stages.config import PhiConfig

        folder = RunFolder(run)
        phi = runner.ensure_phi(folder, runner.load_run_dataset(folder),
                                block_config(config, folder, "phi", PhiConfig, {}), retrain=True)
        typer.echo(f"phi -> {folder.phi}")
        typer.echo(json.dumps(phi.report.as_dict() if phi.report else {}, indent=2))

    @app.command("tag-eval")
    def tag_eval(run: Path = run_opt, config: Optional[Path] = config_opt, sample_users: Optional[int] = sample_opt,
                 seed: Optional[int] = seed_opt) -> None:
        """HR@K of the next interaction's category from the run's tags, beside no-LLM baselines (Table 5)."""
        import pyarrow.parquet as pq

        from recgpt.stages import runner
        from recgpt.stages.config import TagEvalConfig
        from recgpt.stages.context import sample_users as pick
        from recgpt.stages.tag_eval import evaluate_tags

        folder = RunFolder(run)
        cfg = block_config(config, folder, "tag_eval", TagEvalConfig, {"sample_users": sample_users, "seed": seed})
        dataset = runner.load_run_dataset(folder)
        users = pick(dataset, cfg.sample_users, cfg.seed, cfg.fold)
        report = evaluate_tags(pq.read_table(folder.tags), dataset, users, cfg.fold, list(cfg.ks))
        typer.echo(f"{report.n_users} users, {report.n_users_with_tags} with tags that passed the checks")
        typer.echo(report.as_markdown())

    @app.command("chain")
    def chain(run: Path = run_opt, user: str = typer.Option(..., "--user", help="user id"),
              fold: str = typer.Option("test", "--fold", help="history shown: dev | test")) -> None:
        """Print one user's history, interests, tags and explanations (with every post-check verdict)."""
        from recgpt.stages import runner
        from recgpt.stages.chain import user_chain

        folder = RunFolder(run)
        typer.echo(user_chain(folder, runner.load_run_dataset(folder), user, fold))
