"""Fit the retriever to the user's data: an Optuna search of the TAR's main settings on the dev fold.

    result = search_retriever(dataset, TARConfig(), RetrieverSearchConfig(trials=12, time_budget_s=1800))
    result.model              # the best trial's fitted TARRecommender (dev history visible)
    result.summary()          # what was searched, every trial, the chosen settings (RUN/retriever/search.json)

Objective: the best dev Recall@20 at beta = 1 of a trial's training (the metric its early stopping uses).
Trial 0 is always the configured retriever (``base``), so the kept model is never worse on dev than the
defaults. Each dev evaluation is reported to Optuna; the median pruner stops a trial whose dev recall falls
below the median of earlier trials at the same epoch. No trial starts after ``time_budget_s``, and a running
trial past it is pruned at its next dev evaluation (trial 0 always finishes). Optuna is imported here only.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from recgpt.retrieval.config import RetrieverSearchConfig, SearchDimension, TARConfig

log = logging.getLogger("recgpt.retrieval")


@dataclass
class SearchResult:
    """The best model and the record of the search (``summary()`` is JSON-ready)."""

    model: Any
    config: TARConfig
    base_dev: float
    best_dev: float
    trials: list[dict] = field(default_factory=list)
    space: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0
    budget_s: float = 0.0

    def chosen(self) -> dict[str, Any]:
        """The searched keys and the values kept."""
        return {key: getattr(self.config, key) for key in self.space}

    def summary(self) -> dict[str, Any]:
        return {"objective": "best dev recall@20 at beta=1", "space": self.space, "chosen": self.chosen(),
                "base_dev_recall": self.base_dev, "best_dev_recall": self.best_dev, "trials": self.trials,
                "seconds": round(self.seconds, 1), "time_budget_s": self.budget_s,
                "pruned": sum(t["state"] == "pruned" for t in self.trials),
                "complete": sum(t["state"] == "complete" for t in self.trials)}


def _suggest(trial, name: str, dim: SearchDimension):
    if dim.choices is not None:
        return trial.suggest_categorical(name, list(dim.choices))
    if TARConfig.model_fields[name].annotation is int:  # whole-number settings (dim, n_layers, ...)
        return trial.suggest_int(name, int(dim.low), int(dim.high), log=dim.log)
    return trial.suggest_float(name, float(dim.low), float(dim.high), log=dim.log)


def search_retriever(dataset, base: TARConfig, search: RetrieverSearchConfig, progress=None) -> SearchResult:
    """Run the search on ``dataset`` (fit on train, score on dev); see the module docstring."""
    import optuna

    from recgpt.retrieval.tar import TARRecommender

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    start = time.monotonic()
    deadline = start + search.time_budget_s
    epochs = search.epochs or base.epochs
    eval_every = base.eval_every or 2
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=search.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=search.startup_trials,
                                           n_warmup_steps=search.prune_after * eval_every))
    kept: dict[str, Any] = {"model": None, "dev": -1.0, "config": base}
    records: list[dict] = []

    def objective(trial) -> float:
        first = trial.number == 0  # the configured retriever, even where it lies outside the space
        settings = ({key: getattr(base, key) for key in search.space} if first else
                    {key: _suggest(trial, key, dim) for key, dim in search.space.items()})
        config = TARConfig(**{**base.model_dump(), **settings, "epochs": epochs, "eval_every": eval_every})
        began = time.monotonic()
        seen: list[float] = []  # dev recall at each evaluation of this trial

        def report(task, done, total=None, **figures):
            if progress is not None:
                progress(f"trial {trial.number}", done, total, **figures)
            if "dev" not in figures:
                return
            seen.append(float(figures["dev"]))
            trial.report(seen[-1], done)
            if not first and (trial.should_prune() or time.monotonic() > deadline):
                raise optuna.TrialPruned()

        record = {"number": trial.number, "settings": settings, "state": "running"}
        records.append(record)
        try:
            model = TARRecommender(config).fit(dataset, "dev", progress=report)
        except optuna.TrialPruned:
            record.update(state="pruned", seconds=round(time.monotonic() - began, 1),
                          dev=max(seen, default=None), epochs=len(seen) * eval_every)
            log.info("trial %d pruned: %s", trial.number, settings)
            raise
        dev = max((r.get("dev", 0.0) for r in model.training_log), default=0.0)
        record.update(state="complete", dev=dev, epochs=len(model.training_log),
                      seconds=round(time.monotonic() - began, 1))
        log.info("trial %d: dev recall@20 %.4f with %s", trial.number, dev, settings)
        if dev > kept["dev"]:
            kept.update(model=model, dev=dev, config=config)
        return dev

    study.optimize(objective, n_trials=search.trials, timeout=search.time_budget_s, catch=())
    base_dev = next((r["dev"] for r in records if r["number"] == 0 and r["state"] == "complete"), 0.0)
    space = {key: dim.model_dump(exclude_none=True) for key, dim in search.space.items()}
    return SearchResult(kept["model"], kept["config"], base_dev, kept["dev"], records, space,
                        time.monotonic() - start, search.time_budget_s)
