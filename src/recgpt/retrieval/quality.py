"""The quality table of the retrieval area: baselines and TAR at beta = 1, beta = 0 and beta tuned on dev.

Protocol (DESIGN.md): every model is fitted on train; beta is tuned on dev Recall@20; the table is computed on
``fold`` (test: history = train + dev) over every holdout user, with item-title tags unless the stages area's
``tags.parquet`` has LLM tags for a user.
"""

from __future__ import annotations

from pathlib import Path

from recgpt.retrieval.base import create
from recgpt.retrieval.evaluate import evaluate, holdout_targets
from recgpt.retrieval.fusion import load_tag_table
from recgpt.retrieval.metrics import recall_at_k

BETA_GRID = (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
BASELINES = {"popular": {}, "ease": {"l2": 200.0}, "itemknn": {"neighbors": 100, "shrink": 10.0}}


def tune_beta(model, dataset, grid=BETA_GRID, k: int = 20, tags=None) -> tuple[float, dict[float, float]]:
    """Beta with the best dev Recall@k (ties: the larger beta, closer to collaborative-only)."""
    users, targets = holdout_targets(dataset, "dev", model.catalog)
    model.use_history(dataset, "dev")
    scores = {b: recall_at_k(model.recommend(users, k, tags=tags, beta=b).item_index, targets, k) for b in grid}
    best = max(sorted(grid), key=lambda b: (round(scores[b], 12), b))
    return best, scores


def baseline_rows(dataset, fold: str = "test", baselines=BASELINES) -> list[dict]:
    rows = []
    for name, options in baselines.items():
        rows += evaluate(create(name, **options).fit(dataset, "dev"), dataset, fold, name)
    return rows


def quality_rows(dataset, model, fold: str = "test", tags_path: str | Path | None = None, name: str = "tar",
                 baselines: bool = True, grid=BETA_GRID, log=print) -> list[dict]:
    """Tidy rows for the baselines (optional) and ``model`` at beta 1, 0 and tuned. Also rows ``beta_tuned``
    and ``dev_recall_beta=<b>`` (k=20) that record the tuning."""
    rows = baseline_rows(dataset, fold) if baselines else []
    tags = load_tag_table(tags_path) if tags_path else None
    beta, scores = tune_beta(model, dataset, grid, 20, tags)
    log(f"{name}: beta tuned on dev = {beta:g}; dev recall@20 by beta: "
        + ", ".join(f"{b:g}:{s:.4f}" for b, s in scores.items()))
    for label, b in ((f"{name} beta=1", 1.0), (f"{name} beta=0", 0.0), (f"{name} beta={beta:g} (tuned)", beta)):
        rows += evaluate(model, dataset, fold, label, tags=tags, beta=b)
    rows.append(dict(method=name, fold="dev", metric="beta_tuned", k=20, value=beta))
    rows += [dict(method=name, fold="dev", metric=f"dev_recall_beta={b:g}", k=20, value=s) for b, s in scores.items()]
    return rows
