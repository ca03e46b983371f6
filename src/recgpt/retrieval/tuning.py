"""Honest baselines: each baseline's hyperparameters tuned on the dev fold over a small grid, then refitted on
train + dev for the test figures (the usual protocol, e.g. RecBole's), so that no table compares a tuned
retriever with an untuned baseline.

    params, tried = tune_baseline("ease", dataset)          # {"l2": 500.0}, [({"l2": 50.0}, 0.081), ...]
    model = fit_for_test("ease", params, dataset)           # fitted on train + dev, test history visible
"""

from __future__ import annotations

import itertools
import logging

import numpy as np

from recgpt.registry import family_of

log = logging.getLogger("recgpt.retrieval")

#: The default grid per baseline family (values tried on dev; every combination for item-kNN).
BASELINE_GRIDS: dict[str, dict[str, list[float]]] = {
    "popular": {},
    "ease": {"l2": [5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0]},
    "itemknn": {"neighbors": [5, 10, 20, 50, 100, 200], "shrink": [0.0, 10.0, 50.0]},
}


def grid_points(grid: dict[str, list]) -> list[dict]:
    """Every combination of the grid's values, in order ([{}] for an empty grid)."""
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def dev_users(dataset, catalog, max_users: int | None, seed: int) -> tuple[list[str], np.ndarray]:
    """Dev holdout users (all, or a seeded sample of ``max_users``) and their targets' catalog positions."""
    from recgpt.retrieval.evaluate import holdout_targets

    users, targets = holdout_targets(dataset, "dev", catalog)
    if max_users is not None and len(users) > max_users:
        chosen = set(np.random.default_rng(seed).choice(sorted(users), size=max_users, replace=False).tolist())
        keep = [i for i, user in enumerate(users) if user in chosen]
        users, targets = [users[i] for i in keep], targets[keep]
    return users, targets


def tune_baseline(name: str, dataset, grid: dict[str, list] | None = None, fixed: dict | None = None, k: int = 20,
                  max_users: int | None = None, seed: int = 0) -> tuple[dict, list[tuple[dict, float]]]:
    """Fit ``name`` on train for every grid point, score dev Recall@k; return (best options, every point with
    its dev recall). Ties: the first point of the grid. ``fixed`` options are added to every point."""
    from recgpt.retrieval.base import create
    from recgpt.retrieval.metrics import recall_at_k

    grid = BASELINE_GRIDS.get(family_of(name), {}) if grid is None else grid
    fixed = dict(fixed or {})
    tried: list[tuple[dict, float]] = []
    users = targets = None
    for point in grid_points(grid):
        model = create(name, **fixed, **point).fit(dataset, "dev")
        if users is None:
            users, targets = dev_users(dataset, model.catalog, max_users, seed)
        recall = recall_at_k(model.recommend(users, k).item_index, targets, k)
        tried.append((point, recall))
        log.info("%s %s: dev recall@%d %.4f", name, point, k, recall)
    best = max(range(len(tried)), key=lambda i: (round(tried[i][1], 12), -i))
    for key, values in grid.items():
        if len(values) > 2 and tried[best][0][key] in (min(values), max(values)):
            log.warning("%s: the best dev value of %s (%s) is at the edge of the grid %s; widen it", name, key,
                        tried[best][0][key], values)
    return {**fixed, **tried[best][0]}, tried


def fit_for_test(name: str, options: dict, dataset):
    """``name`` with ``options`` fitted on train + dev (:meth:`Dataset.train_plus_dev`), test history visible."""
    from recgpt.retrieval.base import create

    return create(name, **options).fit(dataset.train_plus_dev(), "test")


def describe(options: dict) -> str:
    """``l2=500`` / ``neighbors=50, shrink=10`` for labels and reports."""
    return ", ".join(f"{key}={value:g}" if isinstance(value, (int, float)) else f"{key}={value}"
                     for key, value in options.items() if value is not None and key != "block")
