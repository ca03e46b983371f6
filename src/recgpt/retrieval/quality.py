"""The quality table of the retrieval area: baselines and TAR at beta = 1, beta = 0 and beta tuned on dev.

Protocol: every model is fitted on train; beta is tuned on dev Recall@20 (:func:`tune_beta`, the one tuning
``recgpt run`` uses too); the table is computed on ``fold`` (test: history = train + dev) over every holdout
user, with item-title tags unless the stages area's ``tags.parquet`` has LLM tags for a user.
"""

from __future__ import annotations

import logging
from pathlib import Path

from recgpt.retrieval.base import create
from recgpt.retrieval.config import BETA_GRID
from recgpt.retrieval.evaluate import evaluate
from recgpt.retrieval.fusion import load_tag_table
from recgpt.retrieval.metrics import recall_at_k

log = logging.getLogger("recgpt.retrieval")
BASELINES = {"popular": {}, "ease": {"l2": 200.0}, "itemknn": {"neighbors": 100, "shrink": 10.0}}


def beta_curve(model, dataset, grid=BETA_GRID, k: int = 20, tags=None, max_users: int | None = None,
               seed: int = 0) -> list[dict]:
    """Dev figures of every beta in ``grid``: [{"beta", "recall", "categories", "long_tail"}] at ``k``, beta
    ascending. Dev users are all of them, or a seeded sample of ``max_users``; ``tags`` maps users to tag texts
    (None: item-title tags). Leaves the dev history visible."""
    from recgpt.retrieval import metrics as M
    from recgpt.retrieval.tuning import dev_users

    users, targets = dev_users(dataset, model.catalog, max_users, seed)
    popularity = model.catalog.counts(dataset.events)
    model.use_history(dataset, "dev")
    curve = []
    for b in sorted(float(b) for b in grid):
        ranked = model.recommend(users, k, tags=tags, beta=b).item_index
        curve.append({"beta": b, "recall": recall_at_k(ranked, targets, k),
                      "categories": M.categories_per_list(ranked, model.catalog.category, k),
                      "long_tail": M.long_tail_share(ranked, popularity, k)})
    return curve


def choose_beta(curve: list[dict], criterion: str = "best", tolerance: float = 0.01) -> float:
    """``best``: the beta with the best dev recall (ties: the larger beta, closer to collaborative-only).
    ``smallest_within``: the smallest beta (the most weight on tags) whose dev recall is at least
    (1 - ``tolerance``) x the best dev recall, e.g. within 1% of it."""
    if not curve:
        raise ValueError("an empty beta grid")
    top = max(round(c["recall"], 12) for c in curve)
    if criterion == "best":
        return max(c["beta"] for c in curve if round(c["recall"], 12) == top)
    if criterion == "smallest_within":
        return min(c["beta"] for c in curve if c["recall"] >= top * (1.0 - tolerance) - 1e-12)
    raise ValueError(f"unknown beta criterion {criterion!r}; known: best, smallest_within")


def tune_beta(model, dataset, grid=BETA_GRID, k: int = 20, tags=None, max_users: int | None = None,
              seed: int = 0, criterion: str = "best", tolerance: float = 0.01) -> tuple[float, dict[float, float]]:
    """The fusion weight chosen by ``criterion`` (:func:`choose_beta`) over ``grid`` on dev Recall@k, and the dev
    Recall@k of every beta (:func:`beta_curve` has categories and long tail too). Leaves the dev history visible."""
    curve = beta_curve(model, dataset, grid, k, tags, max_users, seed)
    return choose_beta(curve, criterion, tolerance), {c["beta"]: c["recall"] for c in curve}


def baseline_rows(dataset, fold: str = "test", baselines=BASELINES, tune: bool = True, grids=None,
                  max_users: int | None = None, seed: int = 0, memory_gb: float | None = None) -> list[dict]:
    """Rows of every baseline on ``fold``. With ``tune`` (the default) each baseline's options are tuned on dev
    over its grid (``grids`` per family, default :data:`recgpt.retrieval.tuning.BASELINE_GRIDS`; the options in
    ``baselines`` stay fixed unless the grid names them) and, for the test figures, refitted on train + dev;
    the method label names the chosen options, and rows ``dev_recall <options>`` (fold dev) record the grid.
    Without ``tune``: ``baselines`` options, fitted on train (the untuned figures). Every baseline is checked
    against the memory budget before anything is fitted."""
    from recgpt.retrieval.memory import check_fits
    from recgpt.retrieval.tuning import BASELINE_GRIDS, describe, fit_for_test, tune_baseline

    n_items = dataset.items.num_rows
    plans = {}
    for name, options in baselines.items():
        grid = (grids or {}).get(name, BASELINE_GRIDS.get(name, {})) if tune else {}
        fixed = {k: v for k, v in options.items() if k not in grid}
        check_fits(name, n_items, {**fixed, **{k: max(v) for k, v in grid.items() if v}}, memory_gb,
                   what="the baseline")
        plans[name] = (grid, fixed)
    rows = []
    for name, (grid, fixed) in plans.items():
        if not tune:
            rows += evaluate(create(name, **fixed).fit(dataset, "dev"), dataset, fold, name)
            continue
        chosen, tried = tune_baseline(name, dataset, grid, fixed, 20, max_users, seed)
        model = fit_for_test(name, chosen, dataset) if fold == "test" else create(name, **chosen).fit(dataset, "dev")
        label = f"{name} ({describe(chosen)}, tuned on dev)" if grid else name
        rows += evaluate(model, dataset, fold, label)
        rows += [dict(method=name, fold="dev", metric=f"dev_recall {describe(p)}", k=20, value=r) for p, r in tried]
    return rows


def quality_rows(dataset, model, fold: str = "test", tags_path: str | Path | None = None, name: str = "tar",
                 baselines: bool = True, grid=BETA_GRID, max_users: int | None = None, seed: int = 0,
                 tune_baselines: bool = True, memory_gb: float | None = None,
                 sequential: dict | None = None, beta_criterion: str = "best",
                 beta_tolerance: float = 0.01) -> list[dict]:
    """Tidy rows for the baselines (optional; tuned on dev and refitted on train + dev unless
    ``tune_baselines`` is false), the sequential reference SASRec with options ``sequential`` (when given), and
    ``model`` at beta 1, 0 and tuned. Also rows ``beta_tuned`` and
    ``dev_{recall,categories,long_tail}_beta=<b>`` (k=20) that record the dev curve; beta is chosen by
    ``beta_criterion`` (:func:`choose_beta`)."""
    rows = baseline_rows(dataset, fold, tune=tune_baselines, max_users=max_users, seed=seed,
                         memory_gb=memory_gb) if baselines else []
    if sequential is not None:  # the sequential reference, trained like the TAR (train, early-stopped on dev)
        reference = create("sasrec", **sequential).fit(dataset, "dev")
        rows += evaluate(reference, dataset, fold, "sasrec (sequential reference)")
        best = max((r.get("dev", 0.0) for r in reference.training_log), default=0.0)
        rows.append(dict(method="sasrec", fold="dev", metric="best_dev_recall", k=20, value=best))
    tags = load_tag_table(tags_path) if tags_path else None
    curve = beta_curve(model, dataset, grid, 20, tags, max_users, seed)
    beta = choose_beta(curve, beta_criterion, beta_tolerance)
    scores = {c["beta"]: c["recall"] for c in curve}
    log.info("%s: beta tuned on dev = %g; dev recall@20 by beta: %s", name, beta,
             ", ".join(f"{b:g}:{s:.4f}" for b, s in scores.items()))
    for label, b in ((f"{name} beta=1", 1.0), (f"{name} beta=0", 0.0), (f"{name} beta={beta:g} (tuned)", beta)):
        rows += evaluate(model, dataset, fold, label, tags=tags, beta=b)
    rows.append(dict(method=name, fold="dev", metric="beta_tuned", k=20, value=beta))
    rows += [dict(method=name, fold="dev", metric=f"dev_{m}_beta={c['beta']:g}", k=20, value=c[m])
             for c in curve for m in ("recall", "categories", "long_tail")]
    return rows
