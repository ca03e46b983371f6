"""Full-ranking evaluation of any retriever, as a tidy table (method, fold, metric, k, value).

Protocol: fit on train, tune on dev, report on test with history = train + dev; rank the whole
catalog, excluding the user's visible history. Metrics: recall, ndcg, categories (distinct categories per
list), long_tail (share of slots outside the 20% most popular items), gini (of exposure), coverage, and
exposure_d1 ... exposure_d10 (share of slots per popularity decile, d1 = most popular).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recgpt.data.catalog import Catalog
from recgpt.data.dataset import DataValidationError
from recgpt.retrieval import metrics as M

KS = (10, 20, 50)


def holdout_targets(dataset, fold: str, catalog: Catalog) -> tuple[list[str], np.ndarray]:
    """Users of ``fold`` and their held-out item's catalog position, shape (n_users,)."""
    rows = dataset.holdout.filter(pc.equal(dataset.holdout.column("fold"), fold))
    if rows.num_rows == 0:
        raise DataValidationError(f"dataset {dataset.name!r} has no {fold!r} holdout rows to evaluate on")
    return rows.column("user_id").to_pylist(), catalog.positions(rows.column("item_id").to_pylist())


def method_metrics(ranked: np.ndarray, targets: np.ndarray, category: np.ndarray, popularity: np.ndarray,
                   ks: list[int]) -> dict[str, float]:
    """{"users", "recall@K", "ndcg@K", "categories@K", "long_tail@K", "gini@K", "coverage@K"} for each K.

    ``ranked``: (n_users, >= max(ks)) catalog positions, -1 padded; ``targets``: (n_users,) held-out item
    positions; ``category``: category code per catalog item; ``popularity``: training interactions per item."""
    out: dict[str, float] = {"users": int(len(targets))}
    n_items = len(popularity)
    for k in ks:
        out[f"recall@{k}"] = M.recall_at_k(ranked, targets, k)
        out[f"ndcg@{k}"] = M.ndcg_at_k(ranked, targets, k)
        out[f"categories@{k}"] = M.categories_per_list(ranked, category, k)
        out[f"long_tail@{k}"] = M.long_tail_share(ranked, popularity, k)
        out[f"gini@{k}"] = M.exposure_gini(ranked, n_items, k)
        out[f"coverage@{k}"] = M.coverage(ranked, n_items, k)
    return out


def metric_rows(ranked: np.ndarray, targets: np.ndarray, category: np.ndarray, popularity: np.ndarray,
                ks=KS) -> list[dict]:
    """Every metric of :func:`method_metrics` at every k, and the exposure share of each popularity decile;
    rows of (metric, k, value)."""
    values = method_metrics(ranked, targets, category, popularity, list(ks))
    rows = []
    for k in ks:
        rows += [dict(metric=m, k=k, value=values[f"{m}@{k}"])
                 for m in ("recall", "ndcg", "categories", "long_tail", "gini", "coverage")]
        for d, share in enumerate(M.exposure_by_decile(ranked, popularity, k)):
            rows.append(dict(metric=f"exposure_d{d + 1}", k=k, value=float(share)))
    return rows


def evaluate(model, dataset, fold: str, method: str, ks=KS, tags=None, **recommend_kwargs) -> list[dict]:
    """Switch ``model`` to ``fold``'s history, rank all items for every holdout user, return tidy rows.

    The popularity groups use training counts (``dataset.events``); extra rows: eval_seconds, n_users.
    """
    catalog = Catalog.from_table(dataset.items)
    popularity = catalog.counts(dataset.events)
    users, targets = holdout_targets(dataset, fold, catalog)
    model.use_history(dataset, fold)
    start = time.perf_counter()
    recs = model.recommend(users, max(ks), tags=tags, **recommend_kwargs)
    seconds = time.perf_counter() - start
    rows = metric_rows(recs.item_index, targets, catalog.category, popularity, ks)
    rows += [dict(metric="eval_seconds", k=0, value=seconds), dict(metric="n_users", k=0, value=len(users))]
    return [dict(method=method, fold=fold, **r) for r in rows]


def write_table(rows: list[dict], path: str | Path) -> Path:
    """Write rows as Parquet at ``path`` (.parquet) and JSON beside it (.json); returns the Parquet path."""
    path = Path(path).with_suffix(".parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(
        [dict(method=r["method"], fold=r["fold"], metric=r["metric"], k=int(r["k"]), value=float(r["value"]))
         for r in rows]
    )
    pq.write_table(table, path)
    path.with_suffix(".json").write_text(json.dumps(table.to_pylist(), indent=1))
    return path


def pivot(rows: list[dict], metrics=("recall", "ndcg", "categories", "long_tail", "gini"), k: int = 20) -> str:
    """A Markdown table: one line per method, one column per metric at ``k``."""
    methods = list(dict.fromkeys(r["method"] for r in rows if r["k"] == k and r["metric"] in metrics))
    lines = ["| method | " + " | ".join(f"{m}@{k}" for m in metrics) + " |",
             "|---" * (len(metrics) + 1) + "|"]
    for method in methods:
        vals = {r["metric"]: r["value"] for r in rows if r["method"] == method and r["k"] == k}
        lines.append(f"| {method} | " + " | ".join(f"{vals.get(m, float('nan')):.4f}" for m in metrics) + " |")
    return "\n".join(lines)
