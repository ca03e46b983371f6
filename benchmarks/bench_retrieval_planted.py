"""Known-answer check of a retriever configuration: the planted fixture's hit rate in the top 3, over seeds.

The planted data set (``recgpt.retrieval.synthetic``, synthetic) has 4 clusters of 10 items; each user bought 6
items of one cluster, then a dev and a test item of the same cluster. With the 7 history items excluded, only 3
items of the user's cluster are left, so a retriever that learned the clusters has the test item in its top 3.
Trains with the shared retriever suite's small settings plus ``--set`` overrides, once per seed, and prints the
share of users whose test item is in the top 3 (the suite asks for at least 0.95).

    .venv/bin/python benchmarks/bench_retrieval_planted.py --set 'item_features=[id]'
"""

from __future__ import annotations

import argparse

import numpy as np

from recgpt.config import parse_key_values
from recgpt.retrieval.synthetic import PLANTED_TAR_SETTINGS, planted_dataset
from recgpt.retrieval.tar import TARRecommender
from recgpt.retrieval.config import TARConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", nargs="*", default=[], help="TARConfig overrides: KEY=VALUE")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    overrides = parse_key_values(args.set, "--set")
    dataset = planted_dataset()
    test_item = {r["user_id"]: r["item_id"] for r in dataset.holdout.to_pylist() if r["fold"] == "test"}
    users = sorted(test_item)
    hits = []
    for seed in args.seeds:
        config = TARConfig(**(PLANTED_TAR_SETTINGS | overrides | {"seed": seed}))
        model = TARRecommender(config).fit(dataset, "test")
        recs = model.recommend(users, k=3)
        hits.append(float(np.mean([test_item[u] in set(row) for u, row in zip(users, recs.item_ids)])))
        print(f"seed {seed}: planted test item in the top 3 for {hits[-1]:.0%} of {len(users)} users", flush=True)
    print(f"{overrides or 'defaults'}: min {min(hits):.2f}, mean {np.mean(hits):.2f}")


if __name__ == "__main__":
    main()
