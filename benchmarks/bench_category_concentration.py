"""Why a TAR can trail EASE on diverse catalogs: how much of each top-20 list sits in the category of the user's
last item, and Recall@20 by how diverse the user's history is (terciles of distinct categories per history).

    .venv/bin/python benchmarks/bench_category_concentration.py --model RUN/retriever [--data data/amazon-office]

Reads a saved TAR (``recgpt train-retriever`` or ``bench_retrieval_quality.py --save``), fits EASE and item-kNN
with their dev-tuned options (``--ease-l2``, ``--knn-neighbors``, ``--knn-shrink``; refitted on train + dev),
and prints one line per method on the test fold (history = train + dev), all users, beta = 1.
"""

from __future__ import annotations

import argparse

import numpy as np

from recgpt.data.catalog import Catalog
from recgpt.data.loaders import load_amazon_office
from recgpt.retrieval.evaluate import holdout_targets
from recgpt.retrieval.interactions import Sequences
from recgpt.retrieval.metrics import categories_per_list, recall_at_k
from recgpt.retrieval.saved import load_model
from recgpt.retrieval.tuning import fit_for_test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", default="data/amazon-office")
    parser.add_argument("--ease-l2", type=float, default=50.0)
    parser.add_argument("--knn-neighbors", type=int, default=20)
    parser.add_argument("--knn-shrink", type=float, default=10.0)
    args = parser.parse_args()
    dataset = load_amazon_office(args.data)
    catalog = Catalog.from_table(dataset.items)
    users, targets = holdout_targets(dataset, "test", catalog)
    history = Sequences.from_events(dataset.history("test"), catalog)
    last_cat = np.array([catalog.category[history.get(u)[0][-1]] for u in users])
    distinct = np.array([len(set(catalog.category[history.get(u)[0]].tolist())) for u in users])
    cuts = np.quantile(distinct, [1 / 3, 2 / 3])
    groups = {f"history with <= {cuts[0]:.0f} categories": distinct <= cuts[0],
              f"{cuts[0]:.0f}-{cuts[1]:.0f}": (distinct > cuts[0]) & (distinct <= cuts[1]),
              f"> {cuts[1]:.0f} categories": distinct > cuts[1]}
    target_same = float(np.mean(catalog.category[targets] == last_cat))
    print(f"test users {len(users)}; target in the last item's category: {target_same:.3f}; "
          f"distinct categories per history: median {np.median(distinct):.0f}")
    tar = load_model(args.model)
    tar.use_history(dataset, "test")
    methods = {
        "TAR beta=1": lambda: tar.recommend(users, 20, beta=1.0),
        f"EASE (l2={args.ease_l2:g})": lambda: fit_for_test("ease", {"l2": args.ease_l2}, dataset).recommend(users, 20),
        f"item-kNN ({args.knn_neighbors}, {args.knn_shrink:g})": lambda: fit_for_test(
            "itemknn", {"neighbors": args.knn_neighbors, "shrink": args.knn_shrink}, dataset).recommend(users, 20),
    }
    print("| method | recall@20 | categories@20 | share of slots in the last item's category | "
          + " | ".join(f"recall@20, {g}" for g in groups) + " |")
    print("|---" * (4 + len(groups)) + "|")
    for name, make in methods.items():
        ranked = make().item_index
        same = float(np.mean(catalog.category[np.maximum(ranked, 0)] == last_cat[:, None]))
        by_group = [recall_at_k(ranked[m], targets[m], 20) for m in groups.values()]
        print(f"| {name} | {recall_at_k(ranked, targets, 20):.4f} | {categories_per_list(ranked, catalog.category, 20):.2f} "
              f"| {same:.3f} | " + " | ".join(f"{v:.4f}" for v in by_group) + " |", flush=True)
    print("users per group: " + ", ".join(f"{g}: {int(m.sum())}" for g, m in groups.items()))


if __name__ == "__main__":
    main()
