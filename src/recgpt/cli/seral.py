"""``recgpt seral``: serendipity recommendations with an aligned LLM (SERAL).

    recgpt seral truth --run runs/seral --source amazon-office           # ground truth + its share
    recgpt seral truth --run runs/seral --set granularity=leaf
    recgpt seral profiles --run runs/seral                                # cognition profiles
    recgpt seral evaluate --run runs/seral --scorer popular-new.v1 --scorer random.v1
    recgpt seral evaluate --run runs/seral --scorer serengpt.v1 --set candidates.max_users=20
    recgpt seral pairs --run runs/seral                                   # preference pairs (+ collaborative)
    recgpt seral train --run runs/seral --set ipo.steps=20                # IPO with LoRA on the embedded model
    recgpt seral channel --run runs/seral                                 # the nearline channel and its figures

Settings come from ``--config`` (a pipeline YAML with a ``seral`` block, or the block alone), then
``--set KEY=VALUE`` (keys of the seral block). ``--source`` loads a bundled source into ``RUN/data`` when the
run has no data yet (a leave-one-out split is made for a source without one).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from recgpt.runfolder import RunFolder

seral_app = typer.Typer(help="SERAL: serendipity ground truth, cognition profiles, SerenGPT, the nearline channel.")

RUN = typer.Option(..., "--run", help="run folder (RUN/data is read, RUN/seral written)")
SOURCE = typer.Option(None, "--source", help="load this registered source into RUN/data when it has none")
CONFIG = typer.Option(None, "--config", "-c", help="YAML with a seral block (a pipeline YAML works)")
SETTINGS = typer.Option([], "--set", help="one seral key, e.g. granularity=leaf (repeatable)")


def _setup(run: Path, source: Optional[str], config: Optional[Path], settings: list[str]):
    from recgpt.config import load_block
    from recgpt.seral.config import SeralConfig
    from recgpt.seral.runner import run_dataset

    folder = RunFolder(run)
    seral = load_block(SeralConfig, config, "seral", settings=settings)
    return folder, seral, run_dataset(folder, source)


@seral_app.command("truth")
def truth(run: Path = RUN, source: Optional[str] = SOURCE, config: Optional[Path] = CONFIG,
          settings: list[str] = SETTINGS) -> None:
    """Label each user's held-out next item: serendipitous when its category never appears in the user's
    history -> RUN/seral/truth.parquet; prints the share."""
    from recgpt.seral.runner import write_truth
    from recgpt.seral.truth import share

    folder, seral, dataset = _setup(run, source, config, settings)
    result = {"dataset": dataset.name, "fold": seral.fold, "granularity": seral.granularity,
              **share(write_truth(folder, dataset, seral))}
    typer.echo(json.dumps(result))


@seral_app.command("profiles")
def profiles(run: Path = RUN, source: Optional[str] = SOURCE, config: Optional[Path] = CONFIG,
             settings: list[str] = SETTINGS) -> None:
    """Cognition profiles (long-term, recent, neighbouring never-touched categories) -> RUN/seral/profiles.parquet."""
    from recgpt.seral.runner import write_profiles

    folder, seral, dataset = _setup(run, source, config, settings)
    built = write_profiles(folder, dataset, seral)
    with_neighbours = sum(bool(p.neighbours) for p in built)
    typer.echo(f"{len(built)} profiles ({with_neighbours} with neighbouring categories) -> {folder.seral_profiles}")


@seral_app.command("evaluate")
def evaluate(run: Path = RUN, source: Optional[str] = SOURCE, config: Optional[Path] = CONFIG,
             settings: list[str] = SETTINGS,
             scorers: list[str] = typer.Option(["popular-new.v1", "random.v1"], "--scorer",
                                               help="registered seral scorer(s) (`recgpt plugins`)")) -> None:
    """Hit@1 and NDCG@3 of each scorer ranking candidate sets that hold the real serendipitous next item ->
    RUN/seral/offline.json."""
    from recgpt.seral.runner import evaluate_offline

    folder, seral, dataset = _setup(run, source, config, settings)
    typer.echo(json.dumps(evaluate_offline(folder, dataset, seral, scorers), indent=1))


@seral_app.command("pairs")
def pairs(run: Path = RUN, source: Optional[str] = SOURCE, config: Optional[Path] = CONFIG,
          settings: list[str] = SETTINGS) -> None:
    """SerenGPT's preference pairs from logs and the collaborative data intervention -> RUN/seral/pairs.parquet."""
    from recgpt.seral.runner import write_pairs

    folder, seral, dataset = _setup(run, source, config, settings)
    typer.echo(json.dumps(write_pairs(folder, dataset, seral)))


@seral_app.command("train")
def train(run: Path = RUN, source: Optional[str] = SOURCE, config: Optional[Path] = CONFIG,
          settings: list[str] = SETTINGS,
          name: str = typer.Option("serengpt-ipo", "--name", help="RUN/seral/models/<name>/")) -> None:
    """Align SerenGPT with IPO (trl's DPO trainer, LoRA on the embedded model) on the preference pairs ->
    RUN/seral/models/<name>/; evaluate it with `recgpt seral evaluate --scorer serengpt.v1 --set
    serengpt.adapter=RUN/seral/models/<name>/adapter`."""
    from recgpt.seral.runner import train_serengpt

    folder, seral, dataset = _setup(run, source, config, settings)
    result = train_serengpt(folder, dataset, seral, name)
    typer.echo(f"-> {result.folder}")
    typer.echo(json.dumps(result.manifest["metrics"], indent=1))


@seral_app.command("channel")
def channel(run: Path = RUN, source: Optional[str] = SOURCE, config: Optional[Path] = CONFIG,
            settings: list[str] = SETTINGS) -> None:
    """The nearline channel: judge candidates outside the users' history categories (cached per profile
    version), reserve the quota of the final lists -> RUN/seral/channel.parquet and channel.json (exposure
    ratio, serendipity hit rate, Recall@K with vs without the channel)."""
    from recgpt.seral.runner import run_channel

    folder, seral, dataset = _setup(run, source, config, settings)
    typer.echo(json.dumps(run_channel(folder, dataset, seral), indent=1))


def register(app: typer.Typer) -> None:
    app.add_typer(seral_app, name="seral")
